import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { signWithTestCa } from '../syslog/tlsCerts.ts';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encode, grpcCall, LOGS_EXPORT, LOGS_REQ, logsRequest, startOtlp, type OtlpHarness } from './harness.ts';

let dir = '';
const file = (name: string) => join(dir, name);
const read = (name: string) => readFileSync(file(name));

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Vigil test CA',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    writeFileSync(file(`${name}.ext`), `${ext}\n`);
    signWithTestCa(dir, `${name}.csr`, `${name}.pem`, `${name}.ext`, { days: 1 });
  }
});

// Verify the server certificate by its DNS name: TLS SNI may not carry an IP address (RFC 6066).
const BY_NAME = { 'grpc.ssl_target_name_override': 'localhost' };

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function httpsPost(url: string, body: Buffer, client?: { cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca: read('ca.pem'), ...client, headers: { 'content-type': 'application/x-protobuf' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('OTLP over TLS and mTLS', () => {
  it('serves both protocols over TLS and, with client_ca_file, only to clients with a certificate', async () => {
    const tls = `{ cert_file: ${file('server.pem')}, key_file: ${file('server.key')}, client_ca_file: ${file('ca.pem')} }`;
    h = await startOtlp(
      `protocols:\n  grpc: { endpoint: 127.0.0.1:0, tls: ${tls} }\n  http: { endpoint: 127.0.0.1:0, tls: ${tls} }`,
      { pipelines: ['logs'] },
    );
    const body = encode(LOGS_REQ, logsRequest([{ body: { stringValue: 'over tls' } }]));
    const client = { cert: read('client.pem'), key: read('client.key') };
    const url = h.httpUrl('/v1/logs').replace('http:', 'https:');

    expect(await httpsPost(url, body, client)).toBe(200);
    await expect(httpsPost(url, body)).rejects.toThrow();

    const withCert = grpc.credentials.createSsl(read('ca.pem'), client.key, client.cert);
    expect(
      (await grpcCall(h.grpcAddress, LOGS_EXPORT, body, { credentials: withCert, channelOptions: BY_NAME })).error,
    ).toBeNull();
    const noCert = grpc.credentials.createSsl(read('ca.pem'));
    expect(
      (await grpcCall(h.grpcAddress, LOGS_EXPORT, body, { credentials: noCert, channelOptions: BY_NAME })).error?.code,
    ).toBe(grpc.status.UNAVAILABLE);
    const plain = await grpcCall(h.grpcAddress, LOGS_EXPORT, body);
    expect(plain.error?.code).toBe(grpc.status.UNAVAILABLE);

    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['over tls', 'over tls']);
  });
});
