/**
 * Fastify's schema compilers, loaded when a route first needs one. Fastify requires Ajv and
 * fast-json-stringify as it builds an instance, whether or not any route has a schema; the
 * receivers' listeners and the admin server have none, and an agent that loads neither keeps
 * about 250 modules and their heap out of its resident memory. A route with a schema (the
 * operators' API) loads them on first use, with the options Fastify would give them.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Builder = (externalSchemas: unknown, options: unknown) => unknown;
type SchemaController = NonNullable<FastifyServerOptions['schemaController']>;
type Factories = NonNullable<SchemaController['compilersFactory']>;

const require = createRequire(import.meta.url);

function lazily(module: string): Builder {
  let build: Builder | undefined;
  return (externalSchemas, options) => {
    build ??= (require(module) as () => Builder)();
    return build(externalSchemas, options);
  };
}

/** The `schemaController` option of an instance whose routes may or may not carry schemas. */
export function lazySchemaController(): SchemaController {
  return {
    compilersFactory: {
      buildValidator: lazily('@fastify/ajv-compiler') as Factories['buildValidator'],
      buildSerializer: lazily('@fastify/fast-json-stringify-compiler') as Factories['buildSerializer'],
    },
  };
}
