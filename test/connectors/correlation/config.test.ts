import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';

function issues(yaml: string): string[] {
  try {
    parseConfig(yaml, registry, {});
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

const rules = `
    rules:
      - { kind: pair, name: asset_down, group_by: [asset] }`;

describe('the correlation connector in config', () => {
  it('reads the connector form into the same connector the top-level section stands for', () => {
    const written = parseConfig(
      `
receivers: { json: {} }
exporters: { file: { path: i.ndjson } }
connectors:
  correlation:${rules}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { receivers: [correlation], exporters: [file] }
`,
      registry,
      {},
    );
    const shorthand = parseConfig(
      `
receivers: { json: {} }
exporters: { file: { path: i.ndjson }, correlation: {} }
correlation:${rules.replace(/\n {4}/g, '\n  ')}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file] }
`,
      registry,
      {},
    );
    expect(shorthand.connectors).toEqual(written.connectors);
    expect(shorthand.service.pipelines).toEqual(written.service.pipelines);
    expect(shorthand.exporters).toEqual(written.exporters);
    expect(written.correlation).toMatchObject({
      rules: [{ kind: 'pair', name: 'asset_down' }],
      state: { store: 'memory' },
    });
  });

  it('refuses an incidents pipeline fed by a connector that no pipeline feeds, naming its YAML path', () => {
    expect(
      issues(`
receivers: { json: {} }
exporters: { file: { path: i.ndjson }, debug: {} }
connectors:
  correlation:${rules}
service:
  pipelines:
    logs: { receivers: [json], exporters: [debug] }
    incidents: { receivers: [correlation], exporters: [file] }
`),
    ).toEqual([
      'service.pipelines.incidents.receivers[0]: connector "correlation" is not fed by any pipeline, so this pipeline would never get data; list "correlation" under exporters: of a logs or metrics pipeline',
    ]);
  });

  it('refuses a connector at the wrong end of a pipeline, and rules that do not compile, at their paths', () => {
    expect(
      issues(`
receivers: { json: {} }
exporters: { file: { path: i.ndjson } }
connectors:
  correlation:
    rules:
      - { kind: pair, name: p, down: 'type ==' }
service:
  pipelines:
    logs: { receivers: [json, correlation], exporters: [correlation] }
    incidents: { receivers: [correlation], exporters: [correlation] }
`),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^connectors\.correlation\.rules\[0\]\.down: /),
        'service.pipelines.logs.receivers[1]: connector "correlation" does not emit logs; it emits incidents',
        'service.pipelines.incidents.exporters[0]: connector "correlation" does not take incidents; it takes logs, metrics',
      ]),
    );
  });

  it('refuses the rules written both under connectors: and in the top-level section', () => {
    expect(
      issues(`
receivers: { json: {} }
exporters: { file: { path: i.ndjson } }
connectors:
  correlation:${rules}
correlation:${rules.replace(/\n {4}/g, '\n  ')}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { receivers: [correlation], exporters: [file] }
`),
    ).toEqual(['connectors.correlation: is also configured by the top-level correlation: section; keep one of them']);
  });
});
