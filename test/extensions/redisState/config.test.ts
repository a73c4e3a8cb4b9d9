import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import type { CorrelationConnectorConfig } from '../../../src/connectors/correlation/config.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { extensionStartOrder } from '../../../src/service/config/implicitExtensions.ts';
import type { VigilConfig } from '../../../src/service/config/vigilConfig.ts';

const problems = (yaml: string): string[] => {
  try {
    parseConfig(yaml, registry, {});
    return [];
  } catch (err) {
    return (err as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
  }
};

const stateOf = (c: VigilConfig) => (c.connectors.correlation!.config as CorrelationConnectorConfig).state;
const ledgerOf = (c: VigilConfig, id: string) => (c.exporters[id]!.config as { ledger: { extension?: string } }).ledger;

/** An agent correlating into a webhook, with `state` under correlation: and `extensions` as given. */
const agent = (o: { state: string; extensions?: string; started?: string; webhook?: string }) => `
${o.extensions ? `extensions:\n${o.extensions}` : ''}
receivers:
  json: { endpoint: "127.0.0.1:0" }
exporters:
  correlation: {}
  webhook:
    url: https://hooks.example.com/vigil${o.webhook ?? ''}
  file: { path: incidents.ndjson }
correlation:
  rules:
    - { kind: pair, name: down, group_by: [asset] }
  state:
${o.state}
service:
  extensions: [${o.started ?? ''}]
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [webhook, file] }
`;

const NEW_FORM = {
  extensions: `  redis_state:
    url: redis://redis.example:6380
    prefix: prod
  ticket_ledger:
    redis_state: redis_state`,
  started: 'ticket_ledger, redis_state',
  state: '    extension: redis_state',
  webhook: '\n    ledger: { extension: ticket_ledger }',
};

describe('redis_state and ticket_ledger extensions in the config', () => {
  it('load when named by the correlation state and an incident exporter, and start the ledger after its Redis', () => {
    const c = parseConfig(agent(NEW_FORM), registry, {});
    expect(c.extensions.redis_state).toMatchObject({
      type: 'redis_state',
      config: { url: 'redis://redis.example:6380', prefix: 'prod', lease_ttl: 10_000 },
    });
    expect(c.extensions.ticket_ledger).toMatchObject({ type: 'ticket_ledger', config: { redis_state: 'redis_state' } });
    expect(stateOf(c)).toMatchObject({ store: 'redis', extension: 'redis_state' });
    expect(ledgerOf(c, 'webhook').extension).toBe('ticket_ledger');
    // Listed ledger first, started after the Redis it names.
    expect(extensionStartOrder(c, registry)).toEqual(['redis_state', 'ticket_ledger']);
  });

  it('read the form before extensions as the two extensions it stands for, and every incident exporter shares the ledger', () => {
    const c = parseConfig(
      agent({ state: '    store: redis\n    url: redis://redis.example:6380\n    prefix: prod\n    lease_ttl: 3s' }),
      registry,
      {},
    );
    expect(c.extensions['redis_state/correlation']).toMatchObject({
      type: 'redis_state',
      config: { url: 'redis://redis.example:6380', prefix: 'prod', lease_ttl: 3_000, flush_interval: 100 },
    });
    expect(c.extensions['redis_state/correlation']!.config).not.toHaveProperty('store');
    expect(c.extensions['ticket_ledger/correlation']).toMatchObject({
      type: 'ticket_ledger',
      config: { redis_state: 'redis_state/correlation' },
    });
    expect(c.service.extensions).toEqual(['redis_state/correlation', 'ticket_ledger/correlation']);
    expect(stateOf(c).extension).toBe('redis_state/correlation');
    expect(c.correlation?.state.extension).toBe('redis_state/correlation');
    expect(ledgerOf(c, 'webhook')).toEqual({
      max_age: 30 * 86_400_000,
      max_bytes: 16 * 1024 * 1024,
      extension: 'ticket_ledger/correlation',
    });
    // Not an incident exporter: untouched.
    expect(c.exporters.file!.config).not.toHaveProperty('ledger');
  });

  it('leave state in memory, and every exporter on its own file ledger, when the store is memory', () => {
    const c = parseConfig(agent({ state: '    store: memory' }), registry, {});
    expect(c.extensions).toEqual({});
    expect(c.service.extensions).toEqual([]);
    expect(ledgerOf(c, 'webhook').extension).toBeUndefined();
  });

  it('keep an exporter that names its own ledger extension on it, beside the implicit one', () => {
    const c = parseConfig(
      agent({
        extensions: NEW_FORM.extensions,
        started: 'redis_state, ticket_ledger',
        state: '    store: redis\n    prefix: other',
        webhook: NEW_FORM.webhook,
      }),
      registry,
      {},
    );
    expect(ledgerOf(c, 'webhook').extension).toBe('ticket_ledger');
    expect(c.service.extensions).toEqual([
      'redis_state',
      'ticket_ledger',
      'redis_state/correlation',
      'ticket_ledger/correlation',
    ]);
  });

  it('refuse connection settings beside state.extension, each at its path', () => {
    expect(
      problems(agent({ ...NEW_FORM, state: '    extension: redis_state\n    url: redis://x:1\n    prefix: p' })),
    ).toEqual([
      'correlation.state.url: is a setting of the redis_state extension named by correlation.state.extension; set it there',
      'correlation.state.prefix: is a setting of the redis_state extension named by correlation.state.extension; set it there',
    ]);
    expect(problems(agent({ ...NEW_FORM, state: '    extension: redis_state\n    store: memory' }))).toEqual([
      'correlation.state.store: must be redis (or left out) when extension is set',
    ]);
  });

  it('refuse a reference to a missing, unstarted or wrong kind of extension, with its YAML path', () => {
    expect(problems(agent({ ...NEW_FORM, state: '    extension: redis_state/typo' }))).toEqual([
      'correlation.state.extension: extension "redis_state/typo" is not defined under extensions: (defined: redis_state, ticket_ledger)',
    ]);
    expect(problems(agent({ ...NEW_FORM, state: '    extension: ticket_ledger' }))).toEqual([
      'correlation.state.extension: extension "ticket_ledger" is a ticket_ledger, not a redis_state',
    ]);
    expect(problems(agent({ ...NEW_FORM, webhook: '\n    ledger: { extension: redis_state }' }))).toEqual([
      'exporters.webhook.ledger.extension: extension "redis_state" is a redis_state, not a ticket_ledger',
    ]);
    expect(problems(agent({ ...NEW_FORM, started: 'ticket_ledger' })).sort()).toEqual([
      'correlation.state.extension: extension "redis_state" is not started; list it under service.extensions',
      'extensions.ticket_ledger.redis_state: extension "redis_state" is not started; list it under service.extensions',
    ]);
  });

  it('refuse two correlation connectors on one redis_state, and an implicit id already taken', () => {
    const two = `
extensions:
  redis_state: {}
receivers:
  json: { endpoint: "127.0.0.1:0" }
exporters:
  file: { path: incidents.ndjson }
connectors:
  correlation/a:
    rules: [{ kind: pair, name: down, group_by: [asset] }]
    state: { extension: redis_state }
  correlation/b:
    rules: [{ kind: pair, name: down, group_by: [asset] }]
    state: { extension: redis_state }
service:
  extensions: [redis_state]
  pipelines:
    logs: { receivers: [json], exporters: [correlation/a, correlation/b] }
    incidents: { receivers: [correlation/a, correlation/b], exporters: [file] }
`;
    expect(problems(two)).toEqual([
      'connectors.correlation/b.state.extension: "redis_state" already keeps the state of connector "correlation/a"; give each correlation connector its own redis_state extension (one prefix each)',
    ]);
    expect(
      problems(
        agent({
          extensions: '  redis_state/correlation: {}',
          started: 'redis_state/correlation',
          state: '    store: redis',
        }),
      ),
    ).toEqual([
      'correlation.state: stands for the extension "redis_state/correlation", which extensions: defines too; name a redis_state extension in state.extension instead of the settings here',
    ]);
  });
});

describe('config/examples/redis-daemonset.yaml', () => {
  it('shares state and tickets through started redis_state and ticket_ledger extensions', () => {
    const c = parseConfig(readFileSync('config/examples/redis-daemonset.yaml', 'utf8'), registry, {});
    expect(c.service.extensions).toEqual(['redis_state', 'ticket_ledger']);
    expect(c.extensions.redis_state).toMatchObject({
      type: 'redis_state',
      config: { url: 'redis://127.0.0.1:6379', prefix: 'prod', flush_interval: 100, lease_ttl: 10_000 },
    });
    expect(stateOf(c)).toMatchObject({ store: 'redis', extension: 'redis_state' });
    expect(ledgerOf(c, 'webhook').extension).toBe('ticket_ledger');
    expect(extensionStartOrder(c, registry)).toEqual(['redis_state', 'ticket_ledger']);
  });
});
