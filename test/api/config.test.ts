import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';

const base = `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { debug: {} }
service: { pipelines: { logs: { receivers: [json], exporters: [debug] } } }
`;

describe('the api: section', () => {
  it('is off when absent, and on with its defaults when present, even empty', () => {
    expect(parseConfig(base, registry).api).toBeUndefined();
    for (const section of ['api:', 'api: {}']) {
      expect(parseConfig(`${base}\n${section}\n`, registry).api).toMatchObject({
        endpoint: { host: '127.0.0.1', port: 8081 },
        anonymous_role: 'viewer',
        read_timeout: 30_000,
        max_connections: 1000,
      });
    }
  });

  it('refuses unknown keys and roles, naming the path', () => {
    const refused = () => parseConfig(`${base}\napi: { anonymous_role: root, port: 1 }\n`, registry);
    expect(refused).toThrow(/api\.port: unknown key/);
    expect(refused).toThrow(/api\.anonymous_role: must be one of viewer, operator, admin; got "root"/);
  });

  it('is served by the shipped config on loopback, and the example is valid', () => {
    expect(parseConfig(readFileSync('config/vigil.yaml', 'utf8'), registry, {}).api).toMatchObject({
      endpoint: { host: '127.0.0.1', port: 8081 },
      anonymous_role: 'viewer',
    });
    const example = parseConfig(readFileSync('config/examples/api.yaml', 'utf8'), registry, {}).api!;
    expect(example).toMatchObject({
      endpoint: { host: '0.0.0.0', port: 8443 },
      auth: {
        authenticator: 'authenticator',
        oidc: { client_id: 'vigil-console', client_secret: 'change-me', scopes: ['openid', 'profile', 'groups'] },
      },
      anonymous_role: 'viewer',
      tls: { client_ca_file: '/etc/vigil/tls/operators-ca.crt' },
      max_connections: 200,
    });
  });
});

describe('api.auth', () => {
  const withAuth = (extensions: string, started: string) => `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { debug: {} }
extensions: ${extensions}
service:
  extensions: ${started}
  pipelines: { logs: { receivers: [json], exporters: [debug] } }
api: { auth: { authenticator: authenticator } }
`;

  it('names a started authenticator extension, or the config is refused at its path', () => {
    expect(parseConfig(withAuth('{ authenticator: { api_keys: {} } }', '[authenticator]'), registry).api?.auth).toEqual(
      { authenticator: 'authenticator' },
    );
    expect(() => parseConfig(withAuth('{}', '[]'), registry)).toThrow(
      /api\.auth\.authenticator: extension "authenticator" is not defined under extensions:/,
    );
    expect(() => parseConfig(withAuth('{ authenticator: { api_keys: {} } }', '[]'), registry)).toThrow(
      /api\.auth\.authenticator: extension "authenticator" is not started; list it under service\.extensions/,
    );
  });
});

describe('api.event_store', () => {
  const withStore = (exporters: string, pipelineExporters: string, store: string) => `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: ${exporters}
service: { pipelines: { logs: { receivers: [json], exporters: ${pipelineExporters} } } }
api: { event_store: ${store} }
`;

  it('names a clickhouse exporter that a pipeline uses, or the config is refused at its path', () => {
    expect(
      parseConfig(withStore('{ clickhouse/main: {} }', '[clickhouse/main]', 'clickhouse/main'), registry).api
        ?.event_store,
    ).toBe('clickhouse/main');
    const refused = (exporters: string, used: string, store: string) => () =>
      parseConfig(withStore(exporters, used, store), registry);
    expect(refused('{ debug: {} }', '[debug]', 'clickhouse')).toThrow(
      /api\.event_store: "clickhouse" is not defined under exporters:/,
    );
    expect(refused('{ debug: {} }', '[debug]', 'debug')).toThrow(
      /api\.event_store: "debug" is a debug exporter; name a clickhouse exporter/,
    );
    expect(refused('{ debug: {}, clickhouse: {} }', '[debug]', 'clickhouse')).toThrow(
      /api\.event_store: exporter "clickhouse" is in no pipeline/,
    );
  });
});
