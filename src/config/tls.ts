import { bool, duration, list, obj, optional, str, type Infer } from './schema.ts';

/*
 * TLS settings as config, shared by every listener and client (as the Collector's configtls):
 * what the keys are and mean. Loading the files and hardening a server live with the listeners.
 */

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

/** The files a TLS client may name: the CA to trust, and a certificate for mutual TLS. */
export const tlsClientFiles = {
  ca_file: optional(str({ doc: 'PEM CA bundle that signed the server certificate (default: system CAs).' })),
  cert_file: optional(str({ doc: 'PEM client certificate for mutual TLS.' })),
  key_file: optional(str({ doc: 'PEM private key of cert_file.' })),
};

/** Turns server certificate verification off; every client that offers it documents it the same way. */
export const insecureSkipVerify = (risk = 'anyone on the path can read and change the data') =>
  bool({ default: false, doc: `Accept any server certificate. For tests only: ${risk}.` });
