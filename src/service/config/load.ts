import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../../errors.ts';
import type { CorrelationConnectorConfig } from '../../connectors/correlation/config.ts';
import type { AnyFactory, ConnectorFactory, ExtensionCapability, ExtensionFactory } from '../../pipeline/component.ts';
import { componentType } from '../../pipeline/component.ts';
import { pipelineGraph } from '../../pipeline/graph.ts';
import type { Signal } from '../../pipeline/signals.ts';
import { apiSchema, oidcWithoutJwtIssue } from '../../api/config.ts';
import { RoutingTree, routingSchema } from '../../exporters/tickets/routingTree.ts';
import { expandRefs, unexpandPath } from '../../config/expand.ts';
import { checkStateOwners, expandImplicitExtensions } from './implicitExtensions.ts';
import type { ConfigIssue } from '../../config/schema.ts';
import {
  PIPELINE_NAME,
  pipelineSchema,
  vigilConfigSchema,
  type ComponentConfig,
  type PipelineConfig,
  type VigilConfig,
} from './vigilConfig.ts';

export interface FactoryRegistry {
  receivers: readonly AnyFactory[];
  processors: readonly AnyFactory[];
  exporters: readonly AnyFactory[];
  connectors: readonly ConnectorFactory[];
  extensions: readonly ExtensionFactory[];
}

type Section = 'receivers' | 'processors' | 'exporters' | 'connectors' | 'extensions';
const SECTIONS = ['receivers', 'processors', 'exporters', 'connectors', 'extensions'] as const;
type Sections = Record<Section, Record<string, unknown>>;

/** Reads, expands and validates a YAML config file; throws ConfigError listing every issue. */
export function loadConfigFile(
  file: string,
  registry: FactoryRegistry,
  env: NodeJS.ProcessEnv = process.env,
): VigilConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }]);
  }
  return parseConfig(text, registry, env);
}

export function parseConfig(
  text: string,
  registry: FactoryRegistry,
  env: NodeJS.ProcessEnv = process.env,
): VigilConfig {
  const issues: ConfigIssue[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  // Only the first syntax error: the rest are almost always its echoes.
  for (const e of doc.errors.slice(0, 1)) {
    const pos = lineCounter.linePos(e.pos[0]);
    issues.push({ path: `(yaml line ${pos.line}, column ${pos.col})`, message: e.message.split('\n')[0]! });
  }
  if (issues.length) throw new ConfigError(issues);
  const renamed = new Map<string, string>();
  const raw = expandRefs(doc.toJS({ maxAliasCount: 100 }) ?? {}, '', issues, env, renamed);
  // A failed ${env:}/${file:} already explains its path; the schema's complaint about the empty value would only echo it.
  const expansionFailures = new Set(issues.map((i) => i.path));
  const expansionCount = issues.length;
  // Each top-level section is parsed on its own so one bad section does not hide the others' errors.
  const shape = vigilConfigSchema.shape;
  const rawObj = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const allowed = [
    ...Object.keys(shape),
    'api',
    ...registry.connectors.flatMap((f) => (f.shorthand ? [f.shorthand.section] : [])),
  ];
  for (const key of Object.keys(rawObj)) {
    if (!allowed.includes(key))
      issues.push({ path: key, message: `unknown key; allowed keys here: ${allowed.join(', ')}` });
  }
  const sections: Sections = {
    receivers: shape.receivers.parse(rawObj.receivers, 'receivers', issues) ?? {},
    processors: shape.processors.parse(rawObj.processors, 'processors', issues) ?? {},
    exporters: shape.exporters.parse(rawObj.exporters, 'exporters', issues) ?? {},
    connectors: shape.connectors.parse(rawObj.connectors, 'connectors', issues) ?? {},
    extensions: shape.extensions.parse(rawObj.extensions, 'extensions', issues) ?? {},
  };
  const service = shape.service.parse(rawObj.service, 'service', issues);
  const pipelines = service?.pipelines ?? pipelinesOf(rawObj.service);
  const { connectorPaths, reported: shorthandMistakes } = expandShorthands(
    rawObj,
    sections,
    pipelines,
    registry,
    issues,
  );

  const out: VigilConfig = {
    receivers: {},
    processors: {},
    exporters: {},
    connectors: {},
    extensions: {},
    service: service!,
  };
  for (const section of SECTIONS) {
    for (const [id, rawCfg] of Object.entries(sections[section])) {
      const parsed = parseComponent(section, id, rawCfg, registry[section], issues, connectorPaths.get(id));
      if (parsed) out[section][id] = parsed;
    }
  }
  for (const id of Object.keys(sections.connectors)) {
    if (id in sections.exporters)
      issues.push({
        path: `connectors.${id}`,
        message: `"${id}" is also defined under exporters:; give the connector another name so pipelines can tell them apart`,
      });
  }
  validatePipelines(pipelines, sections, registry, issues, shorthandMistakes);
  // Present, even empty (`api:`), is on.
  if ('api' in rawObj) out.api = apiSchema.parse(rawObj.api ?? undefined, 'api', issues);
  if (out.api?.event_store !== undefined) validateEventStore(out.api.event_store, sections, pipelines, issues);
  if (rawObj.routing !== undefined && rawObj.routing !== null) {
    const routing = routingSchema.parse(rawObj.routing, 'routing', issues);
    const incidentExporters = new Set(
      Object.entries(pipelines).flatMap(([name, p]) =>
        componentType(name) === 'incidents' ? p.exporters.filter((e) => e in sections.exporters) : [],
      ),
    );
    if (routing) out.routing = RoutingTree.compile(routing, 'routing', incidentExporters, issues);
  }
  expandImplicitExtensions(out, sections.extensions, issues, connectorPaths);
  checkStateOwners(out, issues, connectorPaths);
  validateExtensions(service?.extensions, sections, out, registry, issues, connectorPaths);
  // `vigil rules` and reload read the rules from here, whichever form the config used.
  out.correlation = out.connectors.correlation?.config as CorrelationConnectorConfig | undefined;
  const reported = issues.filter((issue, i) => i < expansionCount || !expansionFailures.has(issue.path));
  if (reported.length)
    throw new ConfigError(
      renamed.size === 0 ? reported : reported.map((i) => ({ ...i, path: unexpandPath(i.path, renamed) })),
    );
  return out;
}

/**
 * A connector's shorthand (`correlation:` at the top level, `exporters: { correlation: {} }`,
 * an `incidents` pipeline without receivers) becomes the connector form it stands for, so
 * configs written before connectors existed keep working. Returns the YAML path of each
 * connector config that came from a top-level section, for error messages, and the ids whose
 * mistake is already reported, so pipelines naming them do not echo it.
 */
function expandShorthands(
  rawObj: Record<string, unknown>,
  sections: Sections,
  pipelines: Record<string, PipelineConfig>,
  registry: FactoryRegistry,
  issues: ConfigIssue[],
): { connectorPaths: Map<string, string>; reported: Set<string> } {
  const paths = new Map<string, string>();
  const reported = new Set<string>();
  for (const factory of registry.connectors) {
    if (!factory.shorthand) continue;
    const { section, whenSectionMissing } = factory.shorthand;
    const id = factory.type;
    const asExporters = registry.exporters.some((f) => f.type === id)
      ? []
      : Object.keys(sections.exporters).filter((e) => componentType(e) === id);
    for (const e of asExporters) {
      if (!isEmpty(sections.exporters[e]))
        issues.push({
          path: `exporters.${e}`,
          message: `takes no settings; they go in the top-level ${section}: section`,
        });
      delete sections.exporters[e];
    }
    const body = rawObj[section];
    const hasSection = body !== undefined && body !== null;
    if (!hasSection && !(id in sections.connectors)) {
      for (const e of asExporters) {
        issues.push({ path: `exporters.${e}`, message: whenSectionMissing });
        reported.add(e);
      }
      continue;
    }
    if (hasSection && !isEmpty(sections.connectors[id])) {
      issues.push({
        path: `connectors.${id}`,
        message: `is also configured by the top-level ${section}: section; keep one of them`,
      });
      continue;
    }
    if (hasSection) {
      sections.connectors[id] = body;
      paths.set(id, section);
    }
    for (const p of Object.values(pipelines))
      p.exporters = [...new Set(p.exporters.map((e) => (asExporters.includes(e) ? id : e)))];
    if (!hasSection || !Object.values(pipelines).some((p) => p.exporters.includes(id))) continue;
    for (const [name, p] of Object.entries(pipelines)) {
      if (p.receivers.length === 0 && factory.emits.includes(componentType(name) as Signal)) p.receivers = [id];
    }
  }
  return { connectorPaths: paths, reported };
}

function isEmpty(body: unknown): boolean {
  return body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0);
}

function parseComponent(
  section: Section,
  id: string,
  raw: unknown,
  factories: readonly AnyFactory[],
  issues: ConfigIssue[],
  at = `${section}.${id}`,
): ComponentConfig | undefined {
  const type = componentType(id);
  const factory = factories.find((f) => f.type === type);
  if (!factory) {
    issues.push({
      path: at,
      message: `unknown ${section.slice(0, -1)} type "${type}"; known types: ${factories.map((f) => f.type).join(', ')}`,
    });
    return undefined;
  }
  const before = issues.length;
  const config = factory.configSchema.parse(raw ?? undefined, at, issues);
  if (issues.length > before) return undefined;
  const more = factory.validate?.(config as never, at) ?? [];
  issues.push(...more);
  return more.length ? undefined : { id, type, config };
}

/**
 * `service.extensions` names defined extensions, and every reference a component's config makes
 * to an extension (say, a receiver's `auth.authenticator`) names a started one that provides
 * what the component needs: a typo fails here, with its YAML path, not at the first request.
 */
function validateExtensions(
  started: readonly string[] | undefined,
  base: Sections,
  parsed: VigilConfig,
  registry: FactoryRegistry,
  issues: ConfigIssue[],
  paths: ReadonlyMap<string, string>,
): void {
  // Without a valid service section, which extensions start is unknown; its own errors say why.
  started?.forEach((id, i) => {
    if (!(id in base.extensions))
      issues.push({ path: `service.extensions[${i}]`, message: `"${id}" is not defined under extensions:` });
    else if (started.indexOf(id) !== i)
      issues.push({ path: `service.extensions[${i}]`, message: `"${id}" is listed twice` });
  });
  const check = (ref: { id: string; capability: ExtensionCapability }, path: string) => {
    const provider = registry.extensions.find((f) => f.type === componentType(ref.id));
    if (!(ref.id in base.extensions)) {
      const defined = Object.keys(base.extensions);
      issues.push({
        path,
        message: `extension "${ref.id}" is not defined under extensions:${defined.length ? ` (defined: ${defined.join(', ')})` : ''}`,
      });
    } else if (provider && !provider.provides.includes(ref.capability)) {
      const article = /^[aeiou]/.test(ref.capability) ? 'an' : 'a';
      issues.push({ path, message: `extension "${ref.id}" is a ${provider.type}, not ${article} ${ref.capability}` });
    } else if (started && !started.includes(ref.id)) {
      issues.push({ path, message: `extension "${ref.id}" is not started; list it under service.extensions` });
    }
  };
  for (const section of SECTIONS) {
    for (const c of Object.values(parsed[section])) {
      const factory = registry[section].find((f) => f.type === c.type) as AnyFactory | undefined;
      for (const ref of factory?.extensionRefs?.(c.config as never) ?? [])
        check(ref, `${paths.get(c.id) ?? `${section}.${c.id}`}.${ref.path}`);
    }
  }
  const auth = parsed.api?.auth;
  if (auth) {
    const before = issues.length;
    check({ id: auth.authenticator, capability: 'authenticator' }, 'api.auth.authenticator');
    const authenticator = parsed.extensions[auth.authenticator];
    if (auth.oidc && issues.length === before && authenticator?.type === 'authenticator') {
      if (!(authenticator.config as { jwt?: unknown }).jwt) issues.push(oidcWithoutJwtIssue(auth.authenticator));
    }
  }
}

/** `api.event_store` names a clickhouse exporter that a pipeline uses (else it is not started, and has no tables to read). */
function validateEventStore(
  id: string,
  base: Sections,
  pipelines: Record<string, PipelineConfig>,
  issues: ConfigIssue[],
): void {
  const path = 'api.event_store';
  if (!(id in base.exporters)) issues.push({ path, message: `"${id}" is not defined under exporters:` });
  else if (componentType(id) !== 'clickhouse')
    issues.push({ path, message: `"${id}" is a ${componentType(id)} exporter; name a clickhouse exporter` });
  else if (!Object.values(pipelines).some((p) => p.exporters.includes(id)))
    issues.push({
      path,
      message: `exporter "${id}" is in no pipeline, so it is not started; add it to the logs pipeline`,
    });
}

/** The pipelines that parse on their own when the service section as a whole did not, so their references still get checked. */
function pipelinesOf(rawService: unknown): Record<string, PipelineConfig> {
  const raw = (rawService as { pipelines?: unknown } | undefined)?.pipelines;
  if (!raw || typeof raw !== 'object') return {};
  const out: Record<string, PipelineConfig> = {};
  for (const [name, p] of Object.entries(raw)) {
    if (!PIPELINE_NAME.test(name)) continue;
    const parsed = pipelineSchema.parse(p, name, []);
    if (parsed) out[name] = parsed;
  }
  return out;
}

function validatePipelines(
  pipelines: Record<string, PipelineConfig>,
  base: Sections,
  registry: FactoryRegistry,
  issues: ConfigIssue[],
  reported: ReadonlySet<string>,
): void {
  const connectors = new Set(Object.keys(base.connectors));
  const graph = pipelineGraph(pipelines, connectors);
  for (const [name, p] of Object.entries(pipelines)) {
    const signal = componentType(name) as Signal;
    const check = (section: 'receivers' | 'processors' | 'exporters', ids: string[]) => {
      ids.forEach((id, i) => {
        const path = `service.pipelines.${name}.${section}[${i}]`;
        if (reported.has(id)) return;
        if (section !== 'processors' && connectors.has(id)) {
          checkConnector(id, section, signal, path, graph.feeders, registry, issues);
          return;
        }
        if (!(id in base[section])) {
          issues.push({
            path,
            message: `"${id}" is not defined under ${section}:${section === 'processors' ? '' : ' or connectors:'}`,
          });
          return;
        }
        const factory = registry[section].find((f) => f.type === componentType(id));
        if (factory && !factory.signals.includes(signal)) {
          issues.push({
            path,
            message: `${section.slice(0, -1)} "${id}" does not support ${signal}; it supports ${factory.signals.join(', ')}`,
          });
        }
      });
      const dup = ids.find((id, i) => ids.indexOf(id) !== i);
      if (dup) issues.push({ path: `service.pipelines.${name}.${section}`, message: `"${dup}" is listed twice` });
    };
    check('receivers', p.receivers);
    check('processors', p.processors);
    check('exporters', p.exporters);
    // An incidents pipeline may stand without receivers, as before connectors: a test or an
    // embedding program feeds it.
    if (signal !== 'incidents' && p.receivers.length === 0) {
      issues.push({ path: `service.pipelines.${name}.receivers`, message: 'must list at least one receiver' });
    }
  }
  if (graph.cyclic.length) {
    issues.push({
      path: 'service.pipelines',
      message: `${graph.cyclic.join(', ')} feed each other through connectors in a loop; a connector must lead to other pipelines than the ones feeding it`,
    });
  }
}

function checkConnector(
  id: string,
  end: 'receivers' | 'exporters',
  signal: Signal,
  path: string,
  feeders: ReadonlyMap<string, string[]>,
  registry: FactoryRegistry,
  issues: ConfigIssue[],
): void {
  const factory = registry.connectors.find((f) => f.type === componentType(id));
  if (!factory) return; // already reported as an unknown type
  if (end === 'exporters' && !factory.signals.includes(signal)) {
    issues.push({ path, message: `connector "${id}" does not take ${signal}; it takes ${factory.signals.join(', ')}` });
  } else if (end === 'receivers' && !factory.emits.includes(signal)) {
    issues.push({ path, message: `connector "${id}" does not emit ${signal}; it emits ${factory.emits.join(', ')}` });
  } else if (end === 'receivers' && !feeders.has(id)) {
    issues.push({
      path,
      message: `connector "${id}" is not fed by any pipeline, so this pipeline would never get data; list "${id}" under exporters: of a ${factory.signals.join(' or ')} pipeline`,
    });
  }
}
