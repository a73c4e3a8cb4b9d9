import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';
import { makeTestPki, type TestPki } from '../syslog/tlsCerts.ts';

let pki: TestPki;
/** A client certificate from another CA, and one from the right CA that expired. */
let rogue: { cert: string; key: string };
let expired: { cert: string; key: string };

function openssl(args: string[], faketime?: string): void {
  execFileSync(faketime ? 'faketime' : 'openssl', faketime ? [faketime, 'openssl', ...args] : args, {
    cwd: pki.dir,
    stdio: 'pipe',
  });
}

beforeAll(() => {
  pki = makeTestPki();
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'rogue-ca.key',
    '-out',
    'rogue-ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Rogue CA',
  ]);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.csr', '-subj', '/CN=rogue']);
  openssl([
    'x509',
    '-req',
    '-in',
    'rogue.csr',
    '-CA',
    'rogue-ca.pem',
    '-CAkey',
    'rogue-ca.key',
    '-CAcreateserial',
    '-out',
    'rogue.pem',
    '-days',
    '2',
    '-extfile',
    'client.ext',
  ]);
  // Signed by the right CA, valid for one day in 2020: expired now.
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'old.key', '-out', 'old.csr', '-subj', '/CN=old-client']);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'old.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'old.pem',
      '-days',
      '1',
      '-extfile',
      'client.ext',
    ],
    '2020-01-01 00:00:00',
  );
  rogue = { cert: join(pki.dir, 'rogue.pem'), key: join(pki.dir, 'rogue.key') };
  expired = { cert: join(pki.dir, 'old.pem'), key: join(pki.dir, 'old.key') };
});

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function tlsAddress(d: RunningDaemon): { host: string; port: number } {
  for (const line of d.logs)
    if (line.includes('syslog receiver listening'))
      return (JSON.parse(line) as { syslog: { tls: { host: string; port: number } } }).syslog.tls;
  throw new Error('no syslog address logged');
}

/**
 * Connects, sends one syslog line and waits until the connection is gone. Whether the server took
 * the line shows in what it stored: under TLS 1.3 the client finishes its handshake before the
 * server has checked the client's certificate, so the client cannot tell a refusal itself.
 */
function send(to: { port: number }, opts: Partial<ConnectionOptions>, asset: string): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect(
      { host: '127.0.0.1', port: to.port, ca: readFileSync(pki.caCert), servername: 'localhost', ...opts },
      () => {
        sock.write(`<13>1 2026-12-03T10:00:00Z ${asset} app - - - hello\n`, () => sock.end());
      },
    );
    sock.on('error', () => undefined);
    sock.on('close', () => resolve());
  });
}

describe('TLS listeners verify what clients present and speak only strong suites', () => {
  it("refuses another CA's and an expired client certificate even when certificates are optional, and static-RSA/CBC suites", async () => {
    daemon = await startDaemon(`
receivers:
  syslog:
    tls:
      endpoint: 127.0.0.1:0
      cert_file: ${pki.serverCert}
      key_file: ${pki.serverKey}
      client_ca_file: ${pki.caCert}
      require_client_cert: false
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`);
    const to = tlsAddress(daemon);
    const read = (f: string) => readFileSync(f);
    // The refused ones first: by the time the accepted ones are stored, the others had their chance.
    await send(to, { cert: read(rogue.cert), key: read(rogue.key) }, 'rogue-cert');
    await send(to, { cert: read(expired.cert), key: read(expired.key) }, 'expired-cert');
    // Static RSA key exchange with CBC-SHA1, as an old client would insist on.
    await send(to, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' }, 'weak-suite');
    await send(to, { cert: read(pki.clientCert), key: read(pki.clientKey) }, 'valid-cert');
    await send(to, {}, 'no-cert');

    const file = join(daemon.dataDir, 'events.ndjson');
    await waitFor(() => readNdjson(file).length >= 2, 'the two accepted messages');
    expect(await daemon.stop()).toBe(0);
    expect(new Set(readNdjson<{ asset: string }>(file).map((e) => e.asset))).toEqual(
      new Set(['valid-cert', 'no-cert']),
    );
  });

  it('serves a renewed certificate after reload_interval without a restart', async () => {
    const certFile = join(pki.dir, 'live.pem');
    const keyFile = join(pki.dir, 'live.key');
    writeFileSync(certFile, readFileSync(pki.serverCert));
    writeFileSync(keyFile, readFileSync(pki.serverKey));
    daemon = await startDaemon(`
receivers:
  syslog:
    tls: { endpoint: 127.0.0.1:0, cert_file: ${certFile}, key_file: ${keyFile}, reload_interval: 100ms }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`);
    const to = tlsAddress(daemon);
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(
          { host: '127.0.0.1', port: to.port, ca: readFileSync(pki.caCert), servername: 'localhost' },
          () => {
            resolve(sock.getPeerCertificate().serialNumber);
            sock.end();
          },
        );
        sock.on('error', reject);
      });
    const before = await serial();
    // A renewal: the same CA signs a new certificate for the same names.
    execFileSync(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'renewed.pem',
        '-days',
        '2',
        '-extfile',
        'server.ext',
      ],
      { cwd: pki.dir, stdio: 'pipe' },
    );
    writeFileSync(certFile, readFileSync(join(pki.dir, 'renewed.pem')));
    let after = before;
    await waitFor(async () => (after = await serial()) !== before, 'the renewed certificate to be served');
    expect(after).not.toBe(before);
  });
});
