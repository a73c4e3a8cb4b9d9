import { readFileSync, statSync } from 'node:fs';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { TlsServerConfig } from '../../config/tls.ts';

export interface NodeTlsOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  maxVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string;
  honorCipherOrder: boolean;
  handshakeTimeout: number;
}

const version = (v: string) => (v === '1.3' ? 'TLSv1.3' : 'TLSv1.2');

/** Reads the files named by a TLS config into Node's `tls.createServer` options. */
export function loadTlsOptions(cfg: TlsServerConfig): NodeTlsOptions {
  const withClientCa = cfg.client_ca_file !== undefined;
  return {
    cert: readFileSync(cfg.cert_file),
    key: readFileSync(cfg.key_file),
    ca: withClientCa ? readFileSync(cfg.client_ca_file!) : undefined,
    requestCert: withClientCa,
    rejectUnauthorized: withClientCa && cfg.require_client_cert,
    minVersion: version(cfg.min_version),
    maxVersion: version(cfg.max_version),
    ciphers: cfg.cipher_suites.join(':'),
    honorCipherOrder: true,
    handshakeTimeout: cfg.handshake_timeout,
  };
}

/** What a reload of one listener's certificate did: the files it names, and why it failed when it did. */
export interface TlsReloadResult {
  cert_file: string;
  error?: string;
}

/** Every open TLS listener's reload, for SIGHUP. */
const reloaders = new Set<() => TlsReloadResult>();

/**
 * Re-reads the certificate, key and CA files of every open TLS listener now (SIGHUP), changed or
 * not. A listener whose files cannot be read or do not match keeps serving what it had.
 */
export function reloadTlsListeners(): TlsReloadResult[] {
  return [...reloaders].map((reload) => reload());
}

/**
 * What the options alone cannot say: with `require_client_cert: false` a client may come without
 * a certificate, but one it presents must verify (another CA's or an expired one is refused);
 * renewed files are swapped in without a restart on SIGHUP and, with `reload_interval`, when
 * they change.
 */
export function hardenTlsServer(server: TlsServer, cfg: TlsServerConfig): void {
  if (cfg.client_ca_file !== undefined && !cfg.require_client_cert) {
    // First among the listeners, so the socket is gone before any request on it is read.
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (socket.authorized) return;
      const presented = socket.getPeerCertificate();
      if (presented && Object.keys(presented).length > 0) socket.destroy();
    });
  }
  const files = [cfg.cert_file, cfg.key_file, cfg.client_ca_file].filter((f): f is string => f !== undefined);
  const stamp = () => files.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(':');
  let last = stamp();
  const reload = (): TlsReloadResult => {
    const now = stamp();
    try {
      server.setSecureContext(loadTlsOptions(cfg));
      last = now;
      return { cert_file: cfg.cert_file };
    } catch (err) {
      // A half-written renewal: keep serving the old certificate.
      return { cert_file: cfg.cert_file, error: (err as Error).message };
    }
  };
  reloaders.add(reload);
  server.once('close', () => reloaders.delete(reload));
  if (cfg.reload_interval !== undefined) {
    const timer = setInterval(() => {
      if (stamp() !== last) reload();
    }, cfg.reload_interval);
    timer.unref();
    server.once('close', () => clearInterval(timer));
  }
}
