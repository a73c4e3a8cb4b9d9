// Loaded with `node --import`: the process cannot resolve Fastify's schema compilers (Ajv and
// fast-json-stringify's), so a daemon that loads them where no route has a schema fails to start.
import { registerHooks } from 'node:module';

const REFUSED = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];

registerHooks({
  resolve(specifier, context, next) {
    if (REFUSED.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
      const err = new Error(`Cannot find module '${specifier}' (refused by the test)`);
      Object.assign(err, { code: 'MODULE_NOT_FOUND' });
      throw err;
    }
    return next(specifier, context);
  },
});
