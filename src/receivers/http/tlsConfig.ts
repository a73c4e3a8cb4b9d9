import { readFileSync, statSync } from 'node:fs';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { bool, duration, list, obj, optional, str, type Infer } from '../../config/schema.ts';

/**
 * TLS 1.2 suites with forward secrecy and authenticated encryption only: no static-RSA key
 * exchange, no CBC-SHA1. TLS 1.3's suites are all AEAD and always on.
 */
export const DEFAULT_CIPHER_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

export const tlsServerSchema = obj(
  {
    cert_file: str({ doc: 'PEM certificate chain served to clients.' }),
    key_file: str({ doc: 'PEM private key of the certificate.' }),
    client_ca_file: optional(
      str({ doc: 'PEM CA bundle; when set, clients must present a certificate it signed (mTLS).' }),
    ),
    min_version: str({ default: '1.2', enum: ['1.2', '1.3'], doc: 'Lowest TLS version accepted.' }),
    max_version: str({ default: '1.3', enum: ['1.2', '1.3'], doc: 'Highest TLS version accepted.' }),
    cipher_suites: list(str({ nonEmpty: true }), {
      default: DEFAULT_CIPHER_SUITES,
      minItems: 1,
      doc: 'TLS 1.2 cipher suites (OpenSSL names), in order of preference; the default allows only ECDHE key exchange with AEAD ciphers.',
    }),
    require_client_cert: bool({
      default: true,
      doc: 'With client_ca_file: refuse clients without a certificate. A certificate a client does present is verified either way.',
    }),
    handshake_timeout: duration({
      default: '10s',
      doc: 'A client that has not finished the TLS handshake by then is disconnected.',
    }),
    reload_interval: optional(
      duration({
        doc: 'Re-read the certificate, key and CA files this often when they changed (renewed certificates take effect without a restart). Off when unset.',
      }),
    ),
  },
  { doc: 'TLS for this listener; omit for plain text.' },
);

export type TlsServerConfig = Infer<typeof tlsServerSchema>;

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
