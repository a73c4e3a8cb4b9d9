import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiSchema } from '../../src/api/config.ts';
import { ApiServer } from '../../src/api/server.ts';
import { makeTestPki, type TestPki } from '../receivers/syslog/tlsCerts.ts';

let pki: TestPki;
let server: ApiServer;

beforeAll(async () => {
  pki = makeTestPki();
  const config = apiSchema.parse(
    {
      endpoint: '127.0.0.1:0',
      tls: { cert_file: pki.serverCert, key_file: pki.serverKey, client_ca_file: pki.caCert },
    },
    'api',
    [],
  )!;
  server = new ApiServer({ config, desk: () => undefined });
  await server.start();
});
afterAll(() => server.stop());

function get(path: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.address!.port,
        path,
        ca: readFileSync(pki.caCert),
        servername: 'localhost',
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe("the operators' API over TLS", () => {
  it('serves clients with a certificate its client CA signed, and no others (mTLS)', async () => {
    const answer = await get('/api/v1/incidents', { cert: pki.clientCert, key: pki.clientKey });
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ items: [], next_cursor: null }) });
    await expect(get('/api/v1/incidents')).rejects.toThrow();
  });
});
