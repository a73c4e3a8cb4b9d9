import type { AnyFactory, ConnectorFactory } from '../../pipeline/component.ts';
import type { FactoryRegistry } from './load.ts';
import type { FieldDoc } from '../../config/schema.ts';
import { apiSchema } from '../../api/config.ts';
import { routingSchema } from '../../exporters/tickets/routingTree.ts';
import { serviceSchema, pipelineSchema } from './vigilConfig.ts';

function fmtDefault(v: unknown): string {
  if (v === undefined) return '';
  return `\`${JSON.stringify(v)}\``;
}

/** The cross-key checks on a value (or on each item or value of a list or mapping), as sentences. */
function rulesOf(f: FieldDoc): string[] {
  return [...(f.rules ?? []), ...(f.items?.rules ?? []), ...(f.values?.rules ?? [])];
}

function rows(doc: FieldDoc, prefix: string, out: string[]): void {
  for (const [key, f] of Object.entries(doc.fields ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const req = f.required ? 'yes' : '';
    const rules = rulesOf(f);
    const meaning = [f.doc, rules.length ? `Checked: ${rules.join(' ')}` : ''].filter(Boolean).join(' ');
    out.push(
      `| \`${path}\` | ${f.type.replace(/\|/g, 'or')} | ${req} | ${fmtDefault(f.default)} | ${meaning.replace(/\|/g, '\\|')} |`,
    );
    if (f.fields) rows(f, path, out);
    if (f.values?.fields) rows(f.values, `${path}.<name>`, out);
    if (f.items?.fields) rows(f.items, `${path}[]`, out);
  }
}

function table(doc: FieldDoc, prefix: string): string {
  const out = ['| key | type | required | default | meaning |', '|---|---|---|---|---|'];
  rows(doc, prefix, out);
  const rules = rulesOf(doc);
  if (rules.length) out.push('', `Checked across keys: ${rules.join(' ')}`);
  return out.join('\n');
}

function section(title: string, factories: readonly AnyFactory[], key: string): string {
  return factories
    .map(
      (f) =>
        `##### \`${key}.${f.type}\` — ${f.description}\n\nSignals: ${f.signals.join(', ')}.\n\n${table(f.configSchema.describe(), `${key}.${f.type}`)}\n`,
    )
    .join('\n');
}

/** A connector with a shorthand section has its keys documented once, under that section. */
function connectors(factories: readonly ConnectorFactory[]): string {
  return factories
    .map((f) => {
      const head = `##### \`connectors.${f.type}\` — ${f.description}\n\nTakes ${f.signals.join(', ')} (as an exporter of pipelines); emits ${f.emits.join(', ')} (as a receiver of pipelines).\n\n`;
      if (!f.shorthand) return `${head}${table(f.configSchema.describe(), `connectors.${f.type}`)}\n`;
      const s = f.shorthand.section;
      return `${head}Its keys are those of the top-level \`${s}:\` section below, which is shorthand for it; write them in one place or the other.\n`;
    })
    .join('\n');
}

/** A `####` section of the reference: its heading and its table of keys under `key`. */
function block(title: string, doc: FieldDoc, key: string): string[] {
  return [`#### ${title}`, '', table(doc, key), ''];
}

/** The configuration reference, generated from the same schemas that validate the config. */
export function renderConfigReference(
  registry: FactoryRegistry,
  extra: { title: string; key: string; doc: FieldDoc }[] = [],
): string {
  const parts = [
    "Generated from Vigil's config schema by `npm run docs`; do not edit by hand.",
    'Values may use `${env:NAME}`, `${env:NAME:-default}` and `${file:PATH}`; `$$` is a literal `$`.',
    'Durations take `ms`, `s`, `m`, `h`, `d` (`"1m30s"`); sizes take `KiB`, `MiB`, `GiB` (`"20MiB"`).',
    '',
    '#### Receivers',
    '',
    section('Receivers', registry.receivers, 'receivers'),
    '#### Processors',
    '',
    registry.processors.length ? section('Processors', registry.processors, 'processors') : '_none yet_\n',
    '#### Exporters',
    '',
    section('Exporters', registry.exporters, 'exporters'),
    '#### Connectors',
    '',
    connectors(registry.connectors),
    '#### Extensions',
    '',
    registry.extensions
      .map(
        (f) =>
          `##### \`extensions.${f.type}\` — ${f.description}\n\nProvides: ${f.provides.join(', ')}. Start it by listing its id in \`service.extensions\`.\n\n${table(f.configSchema.describe(), `extensions.${f.type}`)}\n`,
      )
      .join('\n'),
    ...extra.flatMap((e) => block(e.title, e.doc, e.key)),
    ...registry.connectors.flatMap((f) =>
      f.shorthand ? block(f.shorthand.title, f.configSchema.describe(), f.shorthand.section) : [],
    ),
    ...block('Routing tree (`routing:`)', routingSchema.describe(), 'routing'),
    ...block("Operators' API (`api:`; see docs/api.md)", apiSchema.describe(), 'api'),
    ...block('Service', serviceSchema.describe(), 'service'),
    '##### Each pipeline (`service.pipelines.<signal>[/<name>]`)',
    '',
    table(pipelineSchema.describe(), 'service.pipelines.<name>'),
    '',
  ];
  return parts.join('\n');
}

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

/** Replaces the generated block of a Markdown document (the README) with `reference`. */
export function spliceReference(doc: string, reference: string): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a === -1 || b < a) throw new Error(`the document has no ${START} … ${END} block`);
  return `${doc.slice(0, a + START.length)}\n${reference}\n${doc.slice(b)}`;
}
