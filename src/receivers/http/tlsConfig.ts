import { readFileSync } from 'node:fs';
import { bool, obj, optional, str, type Infer } from '../../config/schema.ts';

export const tlsServerSchema = obj(
  {
    cert_file: str({ doc: 'PEM certificate chain served to clients.' }),
    key_file: str({ doc: 'PEM private key of the certificate.' }),
    client_ca_file: optional(str({ doc: 'PEM CA bundle; when set, clients must present a certificate it signed (mTLS).' })),
    min_version: str({ default: '1.2', enum: ['1.2', '1.3'], doc: 'Lowest TLS version accepted.' }),
    require_client_cert: bool({ default: true, doc: 'With client_ca_file: refuse clients without a certificate.' }),
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
}

/** Reads the files named by a TLS config into Node's `tls.createServer` options. */
export function loadTlsOptions(cfg: TlsServerConfig): NodeTlsOptions {
  const withClientCa = cfg.client_ca_file !== undefined;
  return {
    cert: readFileSync(cfg.cert_file),
    key: readFileSync(cfg.key_file),
    ca: withClientCa ? readFileSync(cfg.client_ca_file!) : undefined,
    requestCert: withClientCa,
    rejectUnauthorized: withClientCa && cfg.require_client_cert,
    minVersion: cfg.min_version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
  };
}
