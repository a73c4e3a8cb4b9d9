import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { obj } from '../../../src/config/schema.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import type { ConnectorFactory } from '../../../src/pipeline/component.ts';

/** A logs → logs connector, as a routing connector would be: the only way to build a loop. */
const forward: ConnectorFactory = {
  kind: 'connector',
  type: 'forward',
  signals: ['logs'],
  emits: ['logs'],
  description: 'test',
  configSchema: obj({}) as never,
  create: () => ({ start: async () => undefined, shutdown: async () => undefined }),
};

describe('pipelines joined by connectors', () => {
  it('refuses a loop, naming the pipelines in it', () => {
    let issues: string[] = [];
    try {
      parseConfig(
        `
receivers: { json: {} }
connectors: { forward/a: {}, forward/b: {} }
service:
  pipelines:
    logs: { receivers: [json, forward/b], exporters: [forward/a] }
    logs/2: { receivers: [forward/a], exporters: [forward/b] }
`,
        { ...registry, connectors: [...registry.connectors, forward] },
        {},
      );
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues = err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    expect(issues).toEqual([
      'service.pipelines: logs, logs/2 feed each other through connectors in a loop; a connector must lead to other pipelines than the ones feeding it',
    ]);
  });
});
