import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import { runCli } from '../../support/daemon.ts';

function issuesOf(yaml: string, env: NodeJS.ProcessEnv = {}): { path: string; message: string }[] {
  try {
    parseConfig(yaml, registry, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

const minimal = `
receivers:
  json: {}
exporters:
  file: { path: out.ndjson }
service:
  pipelines:
    logs: { receivers: [json], exporters: [file] }
`;

describe('config loading', () => {
  it('applies defaults to a minimal config', () => {
    const cfg = parseConfig(minimal, registry, {});
    const json = cfg.receivers.json!.config as {
      endpoint: { host: string; port: number };
      max_request_body_size: number;
      paths: string[];
    };
    expect(json.endpoint).toEqual({ host: '127.0.0.1', port: 4318 });
    expect(json.max_request_body_size).toBe(20 * 1024 * 1024);
    expect(json.paths).toEqual(['/v1/events', '/ingest']);
    expect(cfg.service.telemetry.metrics.endpoint).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(cfg.service.pipelines.logs!.queue_size).toBe(20_000);
    expect(cfg.service.shutdown_timeout).toBe(30_000);
  });

  it('names an unknown key with its YAML path', () => {
    const issues = issuesOf(minimal.replace('json: {}', 'json: { endpiont: "0.0.0.0:1" }'));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('receivers.json.endpiont');
    expect(issues[0]!.message).toMatch(/unknown key; allowed keys here: endpoint/);
  });

  it('reports every mistake at once, each at its path', () => {
    const issues = issuesOf(`
receivers:
  json: { max_request_body_size: lots, endpoint: "nope" }
  otlpp: {}
exporters:
  file: {}
service:
  pipelines:
    logs: { receivers: [json, syslog], exporters: [file] }
    bogus: { receivers: [json], exporters: [file] }
  telemetry: { logs: { level: loud } }
`);
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'receivers.json.max_request_body_size',
        'receivers.json.endpoint',
        'receivers.otlpp',
        'exporters.file.path',
        'service.pipelines.logs.receivers[1]',
        'service.pipelines.bogus',
        'service.telemetry.logs.level',
      ]),
    );
    expect(issues.find((i) => i.path === 'receivers.otlpp')!.message).toMatch(
      /unknown receiver type "otlpp"; known types: json/,
    );
    expect(issues.find((i) => i.path === 'service.pipelines.logs.receivers[1]')!.message).toMatch(
      /"syslog" is not defined under receivers/,
    );
    expect(issues.find((i) => i.path === 'service.telemetry.logs.level')!.message).toMatch(
      /must be one of trace, debug, info/,
    );
  });

  it('expands ${env:...}, defaults and ${file:...}, keeping numbers typed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cfg-'));
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'events-from-file.ndjson\n');
    const cfg = parseConfig(
      `
receivers:
  json: { endpoint: "\${env:HOST}:\${env:PORT:-4999}", max_request_body_size: "\${env:MAXB}" }
exporters:
  file: { path: "\${file:${secret}}" }
service:
  pipelines:
    logs: { receivers: [json], exporters: [file] }
`,
      registry,
      { HOST: '0.0.0.0', MAXB: '1024' },
    );
    expect((cfg.receivers.json!.config as { endpoint: unknown }).endpoint).toEqual({ host: '0.0.0.0', port: 4999 });
    expect((cfg.receivers.json!.config as { max_request_body_size: number }).max_request_body_size).toBe(1024);
    expect((cfg.exporters.file!.config as { path: string }).path).toBe('events-from-file.ndjson');
  });

  it('expands references in mapping keys (tokens read from files) without printing them in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cfg-'));
    const token = join(dir, 'token');
    writeFileSync(token, 's3cret-token\n');
    const yaml = (tenant: string) => `
receivers:
  otlp:
    protocols: { http: }
    auth: { bearer_tokens: { "\${file:${token}}": ${tenant} } }
exporters:
  file: { path: out.ndjson }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [file] }
`;
    const cfg = parseConfig(yaml('team-a'), registry, {});
    expect(
      (cfg.receivers.otlp!.config as { auth: { bearer_tokens: Record<string, string> } }).auth.bearer_tokens,
    ).toEqual({ 's3cret-token': 'team-a' });
    const missing = issuesOf(yaml('team-a').replace(token, join(dir, 'absent')));
    expect(missing).toEqual([
      { path: expect.stringContaining('${file:'), message: expect.stringMatching(/cannot read file/) },
    ]);
    expect(JSON.stringify(issuesOf(yaml('""')))).not.toContain('s3cret-token');
  });

  it('says which environment variable is missing', () => {
    const issues = issuesOf(minimal.replace('path: out.ndjson', 'path: "${env:OUT_PATH}"'));
    expect(issues).toEqual([
      { path: 'exporters.file.path', message: expect.stringMatching(/environment variable OUT_PATH is not set/) },
    ]);
  });

  it('rejects a pipeline that uses a component for a signal it does not carry', () => {
    const issues = issuesOf(`
receivers:
  json: {}
exporters:
  file: { path: x }
service:
  pipelines:
    metrics: { receivers: [json], exporters: [file] }
`);
    expect(issues).toEqual([
      {
        path: 'service.pipelines.metrics.receivers[0]',
        message: 'receiver "json" does not support metrics; it supports logs',
      },
    ]);
  });

  it('points at the line of a YAML syntax error', () => {
    const issues = issuesOf('receivers:\n  json: {\n');
    expect(issues[0]!.path).toMatch(/^\(yaml line \d+, column \d+\)$/);
  });
});

describe('vigil validate', () => {
  it('exits 1 and lists every error with its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, minimal.replace('json: {}', 'json: { endpoint: 12 }').replace('path: out.ndjson', 'pathh: x'));
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('receivers.json.endpoint: must be host:port');
    expect(r.stderr).toContain('exporters.file.pathh: unknown key');
    expect(r.stderr).toContain('exporters.file.path: is required');
  });

  it('accepts the shipped default config', async () => {
    const r = await runCli(['validate', '--config', 'config/vigil.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
