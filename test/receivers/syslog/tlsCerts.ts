import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(dir: string, args: string[], faketime?: string): void {
  if (faketime) execFileSync('faketime', [faketime, 'openssl', ...args], { cwd: dir, stdio: 'pipe' });
  else execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/**
 * Signs `csr` with the CA in `dir` (`ca.pem`, `ca.key`) into `out`, a new serial each time; valid
 * for `days` from now, or from the `faketime` given (an expired certificate).
 */
export function signWithTestCa(
  dir: string,
  csr: string,
  out: string,
  extFile: string,
  opts: { days?: number; faketime?: string } = {},
): void {
  openssl(
    dir,
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      out,
      '-days',
      String(opts.days ?? 2),
      '-extfile',
      extFile,
    ],
    opts.faketime,
  );
}

/** A throwaway CA with a server certificate for localhost/127.0.0.1 and a client certificate, made with openssl. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pki-'));
  openssl(dir, [
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
    '2',
    '-subj',
    '/CN=Vigil Test CA',
  ]);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'rsyslog-client'],
  ] as const) {
    openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    signWithTestCa(dir, `${name}.csr`, `${name}.pem`, `${name}.ext`);
  }
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
