import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type LogRecordExporter,
} from '@opentelemetry/sdk-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeOidcProvider, newSigningKey, tokensToRefuse, type SigningKey } from '../support/fakes/oidcProvider.ts';
import { readNdjson } from '../support/ndjson.ts';

const config = (issuer: string) => `
extensions:
  authenticator:
    jwt:
      issuer: ${issuer}
      audience: [vigil]
      tenant_claim: tenant
      default_role: viewer
    api_keys: {}
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
    auth: { authenticator: authenticator }
  json:
    endpoint: 127.0.0.1:0
    auth: { authenticator: authenticator }
exporters:
  file/events: { path: events.ndjson }
service:
  extensions: [authenticator]
  pipelines:
    logs: { receivers: [otlp, json], exporters: [file/events] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`;

/** The SDK's ExportResult (@opentelemetry/core, not a dependency of its own here). */
interface ExportResult {
  code: number;
  error?: Error;
}
const ExportResultCode = { SUCCESS: 0, FAILED: 1 } as const;

function grpcPort(d: RunningDaemon): number {
  for (const line of d.logs) {
    const rec = JSON.parse(line) as { msg?: string; grpc?: { port: number } };
    if (rec.msg === 'OTLP gRPC listening') return rec.grpc!.port;
  }
  throw new Error('no "OTLP gRPC listening" line in the daemon log');
}

/** One log record through a stock OTel JS exporter, as an application sends it; resolves with the export's result. */
async function sendLog(exporter: LogRecordExporter, service: string): Promise<ExportResult> {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  });
  provider.getLogger('auth-test').emit({ body: `hello from ${service}`, attributes: { tenant: 'from-the-body' } });
  await provider.forceFlush();
  const result = await new Promise<ExportResult>((resolve) =>
    exporter.export(memory.getFinishedLogRecords(), (r) => resolve(r as ExportResult)),
  );
  await exporter.shutdown();
  return result;
}

async function postEvents(d: RunningDaemon, body: unknown, authorization?: string): Promise<Response> {
  return fetch(d.url('/v1/events'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
}

async function failureCount(d: RunningDaemon, reason: string): Promise<number> {
  const text = await (await fetch(d.adminUrl('/metrics'))).text();
  const m = new RegExp(
    `^vigil_auth_failures_total\\{authenticator="authenticator",reason="${reason}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

describe('ingest through the authenticator (real daemon, OIDC provider, OTel SDK exporters)', () => {
  let idp: FakeOidcProvider;
  let key: SigningKey;
  let daemon: RunningDaemon;
  let apiKey: string;
  const token = (tenant: string, claims: Record<string, unknown> = {}) => idp.sign(key, { tenant, ...claims });

  beforeAll(async () => {
    key = await newSigningKey('ingest-1');
    idp = await new FakeOidcProvider().start(key);
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-auth-ingest-'));
    const configFile = join(dataDir, 'vigil.yaml');
    writeFileSync(configFile, config(idp.issuer));
    const created = await runCli([
      'apikey',
      'create',
      '--name',
      'edge-7',
      '--role',
      'viewer',
      '--tenant',
      'team-k',
      '--config',
      configFile,
      '--data-dir',
      dataDir,
    ]);
    expect(created.code, created.stderr).toBe(0);
    apiKey = created.stdout.trim();
    daemon = await startDaemon(config(idp.issuer), { dataDir });
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await idp?.close();
  });

  it('answers 401 with problem details to every bad token, counting each reason', async () => {
    const before = new Map<string, number>();
    const cases = await tokensToRefuse(idp, key, { tenant: 'team-a' });
    for (const [, reason] of cases) before.set(reason, await failureCount(daemon, reason));
    for (const [bad, reason] of cases) {
      const res = await postEvents(daemon, { message: `refused: ${reason}` }, `Bearer ${bad}`);
      expect(res.status, reason).toBe(401);
      expect(res.headers.get('content-type'), reason).toMatch(/^application\/problem\+json/);
    }
    for (const [reason, n] of before)
      expect(await failureCount(daemon, reason), reason).toBe(n + cases.filter(([, r]) => r === reason).length);
  });

  it(
    'stamps the authenticated tenant on JSON, OTLP/HTTP and OTLP/gRPC records, refuses the rest, and keeps the good requests around them',
    { timeout: 60_000 },
    async () => {
      const http = `http://127.0.0.1:${daemon.http[0]!.port}`;
      const grpc = `http://127.0.0.1:${grpcPort(daemon)}`;

      // JSON: the body names another tenant; the token's wins.
      const ok = await postEvents(
        daemon,
        { message: 'json with token', tenant: 'team-evil' },
        `Bearer ${await token('team-a')}`,
      );
      expect(ok.status).toBe(200);
      const anonymous = await postEvents(daemon, { message: 'json without token', tenant: 'team-evil' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="vigil"');
      expect(await anonymous.json()).toMatchObject({
        status: 401,
        title: 'Unauthorized',
        code: 'VIGIL_UNAUTHENTICATED',
        detail: expect.stringContaining('Authorization: Bearer'),
      });
      const expired = await postEvents(
        daemon,
        { message: 'json expired' },
        `Bearer ${await token('team-a', { exp: Math.floor(Date.now() / 1000) - 600 })}`,
      );
      expect(expired.status).toBe(401);
      expect(
        (await postEvents(daemon, { message: 'json with api key', tenant: 'team-evil' }, `Bearer ${apiKey}`)).status,
      ).toBe(200);

      // OTLP/HTTP (protobuf) and OTLP/gRPC with the stock exporters, with and without credentials.
      const bearer = `Bearer ${await token('team-b')}`;
      expect(
        await sendLog(new LogsProto({ url: `${http}/v1/logs`, headers: { Authorization: bearer } }), 'otlp-http-token'),
      ).toEqual({ code: ExportResultCode.SUCCESS });
      const httpAnon = await sendLog(new LogsProto({ url: `${http}/v1/logs` }), 'otlp-http-anonymous');
      expect(httpAnon.code).toBe(ExportResultCode.FAILED);
      expect(String(httpAnon.error)).toMatch(/401|Unauthorized/);
      const md = new Metadata();
      md.set('authorization', `Bearer ${await idp.sign(await newSigningKey('ingest-1'), { tenant: 'team-b' })}`); // the right kid, another key
      const grpcBad = await sendLog(new LogsGrpc({ url: grpc, metadata: md }), 'otlp-grpc-bad');
      expect(grpcBad.code).toBe(ExportResultCode.FAILED);
      expect((grpcBad.error as { code?: number }).code).toBe(16); // UNAUTHENTICATED
      const grpcAnon = await sendLog(new LogsGrpc({ url: grpc }), 'otlp-grpc-anonymous');
      expect((grpcAnon.error as { code?: number }).code).toBe(16);
      const good = new Metadata();
      good.set('authorization', `Bearer ${await token('team-c')}`);
      expect(await sendLog(new LogsGrpc({ url: grpc, metadata: good }), 'otlp-grpc-token')).toEqual({
        code: ExportResultCode.SUCCESS,
      });

      // A key revoked while the daemon runs is refused at once.
      expect(
        (
          await runCli([
            'apikey',
            'revoke',
            '--name',
            'edge-7',
            '--config',
            join(daemon.dataDir, 'vigil.yaml'),
            '--data-dir',
            daemon.dataDir,
          ])
        ).code,
      ).toBe(0);
      expect((await postEvents(daemon, { message: 'json with revoked key' }, `Bearer ${apiKey}`)).status).toBe(401);

      expect(await failureCount(daemon, 'missing')).toBe(3);
      expect(await failureCount(daemon, 'revoked_api_key')).toBe(1);

      const events = join(daemon.dataDir, 'events.ndjson');
      expect(await daemon.stop()).toBe(0);
      const stored = readNdjson<{ body: string; tenant: string }>(events).map((e) => [e.body, e.tenant]);
      expect(stored.sort()).toEqual(
        [
          ['json with token', 'team-a'],
          ['json with api key', 'team-k'],
          ['hello from otlp-http-token', 'team-b'],
          ['hello from otlp-grpc-token', 'team-c'],
        ].sort(),
      );
    },
  );
});
