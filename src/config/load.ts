import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import type { AnyFactory } from '../pipeline/component.ts';
import { componentType } from '../pipeline/component.ts';
import type { Signal } from '../pipeline/signals.ts';
import { expandRefs, unexpandPath } from './expand.ts';
import { parseCorrelationSection } from '../correlation/configSection.ts';
import type { ConfigIssue } from './schema.ts';
import { PIPELINE_NAME, pipelineSchema, vigilConfigSchema, type ComponentConfig, type PipelineConfig, type VigilConfig } from './vigilConfig.ts';

export interface FactoryRegistry {
  receivers: readonly AnyFactory[];
  processors: readonly AnyFactory[];
  exporters: readonly AnyFactory[];
}

type Section = 'receivers' | 'processors' | 'exporters';

/** Reads, expands and validates a YAML config file; throws ConfigError listing every issue. */
export function loadConfigFile(file: string, registry: FactoryRegistry, env: NodeJS.ProcessEnv = process.env): VigilConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }]);
  }
  return parseConfig(text, registry, env);
}

export function parseConfig(text: string, registry: FactoryRegistry, env: NodeJS.ProcessEnv = process.env): VigilConfig {
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
  for (const key of Object.keys(rawObj)) {
    if (!(key in shape)) issues.push({ path: key, message: `unknown key; allowed keys here: ${Object.keys(shape).join(', ')}` });
  }
  const sections = {
    receivers: shape.receivers.parse(rawObj.receivers, 'receivers', issues) ?? {},
    processors: shape.processors.parse(rawObj.processors, 'processors', issues) ?? {},
    exporters: shape.exporters.parse(rawObj.exporters, 'exporters', issues) ?? {},
  };
  const service = shape.service.parse(rawObj.service, 'service', issues);
  const correlation = parseCorrelationSection(rawObj.correlation, issues);

  const out: VigilConfig = { receivers: {}, processors: {}, exporters: {}, service: service!, correlation };
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    for (const [id, rawCfg] of Object.entries(sections[section])) {
      const parsed = parseComponent(section, id, rawCfg, registry[section], issues);
      if (parsed) out[section][id] = parsed;
    }
  }
  validatePipelines(service?.pipelines ?? pipelinesOf(rawObj.service), sections, registry, issues);
  for (const id of Object.keys(sections.exporters)) {
    if (componentType(id) === 'correlation' && (rawObj.correlation === undefined || rawObj.correlation === null)) {
      issues.push({ path: `exporters.${id}`, message: 'the correlation exporter needs a top-level correlation: section with rules' });
    }
  }
  const reported = issues.filter((issue, i) => i < expansionCount || !expansionFailures.has(issue.path));
  if (reported.length) throw new ConfigError(renamed.size === 0 ? reported : reported.map((i) => ({ ...i, path: unexpandPath(i.path, renamed) })));
  return out;
}

function parseComponent(section: Section, id: string, raw: unknown, factories: readonly AnyFactory[], issues: ConfigIssue[]): ComponentConfig | undefined {
  const type = componentType(id);
  const factory = factories.find((f) => f.type === type);
  if (!factory) {
    issues.push({ path: `${section}.${id}`, message: `unknown ${section.slice(0, -1)} type "${type}"; known types: ${factories.map((f) => f.type).join(', ')}` });
    return undefined;
  }
  const before = issues.length;
  const config = factory.configSchema.parse(raw ?? undefined, `${section}.${id}`, issues);
  if (issues.length > before) return undefined;
  return { id, type, config };
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

function validatePipelines(pipelines: Record<string, PipelineConfig>, base: { receivers: object; processors: object; exporters: object }, registry: FactoryRegistry, issues: ConfigIssue[]): void {
  for (const [name, p] of Object.entries(pipelines)) {
    const signal = componentType(name) as Signal;
    const check = (section: Section, ids: string[]) => {
      ids.forEach((id, i) => {
        const path = `service.pipelines.${name}.${section}[${i}]`;
        if (!(id in base[section])) {
          issues.push({ path, message: `"${id}" is not defined under ${section}:` });
          return;
        }
        const factory = registry[section].find((f) => f.type === componentType(id));
        if (factory && !factory.signals.includes(signal)) {
          issues.push({ path, message: `${section.slice(0, -1)} "${id}" does not support ${signal}; it supports ${factory.signals.join(', ')}` });
        }
      });
      const dup = ids.find((id, i) => ids.indexOf(id) !== i);
      if (dup) issues.push({ path: `service.pipelines.${name}.${section}`, message: `"${dup}" is listed twice` });
    };
    check('receivers', p.receivers);
    check('processors', p.processors);
    check('exporters', p.exporters);
    if (signal !== 'incidents' && p.receivers.length === 0) {
      issues.push({ path: `service.pipelines.${name}.receivers`, message: 'must list at least one receiver' });
    }
    if (signal === 'incidents' && p.receivers.length > 0) {
      issues.push({ path: `service.pipelines.${name}.receivers`, message: 'an incidents pipeline is fed by the correlation engine; list no receivers' });
    }
  }
}
