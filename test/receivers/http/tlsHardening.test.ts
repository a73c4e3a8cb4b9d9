import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';
import { makeTestPki, signWithTestCa, type TestPki } from '../syslog/tlsCerts.ts';

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
  signWithTestCa(pki.dir, 'old.csr', 'old.pem', 'client.ext', { days: 1, faketime: '2020-01-01 00:00:00' });
  rogue = { cert: join(pki.dir, 'rogue.pem'), key: join(pki.dir, 'rogue.key') };
  expired = { cert: join(pki.dir, 'old.pem'), key: join(pki.dir, 'old.key') };
});

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

/** A copy of the server certificate and key that a test may overwrite. */
function liveCertificate(name: string): { cert: string; key: string } {
  const cert = join(pki.dir, `${name}.pem`);
  const key = join(pki.dir, `${name}.key`);
  writeFileSync(cert, readFileSync(pki.serverCert));
  writeFileSync(key, readFileSync(pki.serverKey));
  return { cert, key };
}

/** A renewal: the same CA signs a new certificate (a new serial) for the same key and names. */
function renewedCertificate(name: string): Buffer {
  signWithTestCa(pki.dir, 'server.csr', `${name}.pem`, 'server.ext');
  return readFileSync(join(pki.dir, `${name}.pem`));
}

/** The serial of the certificate a new TLS connection is served (h2 offered, for the gRPC listener). */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(
      {
        host: '127.0.0.1',
        port,
        ca: readFileSync(pki.caCert),
        servername: 'localhost',
        ALPNProtocols: ['h2', 'http/1.1'],
      },
      () => {
        resolve(sock.getPeerCertificate().serialNumber);
        sock.destroy();
      },
    );
    sock.on('error', reject);
  });
}

function grpcAddress(d: RunningDaemon): { port: number } {
  for (const line of d.logs)
    if (line.includes('OTLP gRPC listening')) return (JSON.parse(line) as { grpc: { port: number } }).grpc;
  throw new Error('no gRPC address logged');
}

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
    const live = liveCertificate('live');
    daemon = await startDaemon(`
receivers:
  syslog:
    tls: { endpoint: 127.0.0.1:0, cert_file: ${live.cert}, key_file: ${live.key}, reload_interval: 100ms }
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
    const before = await servedSerial(to.port);
    writeFileSync(live.cert, renewedCertificate('renewed'));
    let after = before;
    await waitFor(async () => (after = await servedSerial(to.port)) !== before, 'the renewed certificate to be served');
    expect(after).not.toBe(before);
  });

  it("re-reads every TLS listener's certificate on SIGHUP, and keeps the old one when the new files are broken", async () => {
    const live = liveCertificate('hup');
    const tls = `{ cert_file: ${live.cert}, key_file: ${live.key} }`;
    daemon = await startDaemon(`
receivers:
  syslog:
    tls: { endpoint: 127.0.0.1:0, cert_file: ${live.cert}, key_file: ${live.key} }
  json: { endpoint: 127.0.0.1:0, tls: ${tls} }
  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:0, tls: ${tls} } } }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog, json, otlp], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
api: { endpoint: 127.0.0.1:0, tls: ${tls} }
`);
    const d = daemon;
    const ports = {
      syslog: tlsAddress(d).port,
      json: d.http[0]!.port,
      grpc: grpcAddress(d).port,
      api: d.api!.port,
    };
    const serials = async () =>
      Object.fromEntries(
        await Promise.all(Object.entries(ports).map(async ([name, port]) => [name, await servedSerial(port)] as const)),
      );
    const original = await serials();
    const originalSerial = original.syslog!;
    expect(Object.values(original)).toEqual([originalSerial, originalSerial, originalSerial, originalSerial]);

    // Broken files first (a renewal caught half-written): every listener keeps its certificate.
    writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\ntruncated');
    const logged = () => d.logs.filter((l) => l.includes('TLS certificates reloaded')).length;
    d.proc.kill('SIGHUP');
    await waitFor(() => logged() === 1, 'the first reload to be logged');
    expect(d.logs.filter((l) => l.includes('TLS certificate reload failed'))).toHaveLength(4);
    expect(await serials()).toEqual(original);

    writeFileSync(live.cert, renewedCertificate('hup-renewed'));
    const renewed = new X509Certificate(readFileSync(live.cert)).serialNumber;
    // Without reload_interval nothing looks at the files until the signal.
    expect(await serials()).toEqual(original);
    d.proc.kill('SIGHUP');
    await waitFor(() => logged() === 2, 'the second reload to be logged');
    expect(Object.values(await serials())).toEqual([renewed, renewed, renewed, renewed]);
    const line = JSON.parse(d.logs.filter((l) => l.includes('TLS certificates reloaded'))[1]!) as object;
    expect(line).toMatchObject({ signal: 'SIGHUP', listeners: 4, failed: 0 });
    expect(d.proc.exitCode).toBeNull();
  });
});
