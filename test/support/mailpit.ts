import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.ts';
import { waitFor } from './waitFor.ts';

/** A message as Mailpit's `GET /api/v1/message/{ID}` returns it. */
export interface MailpitMessage {
  ID: string;
  MessageID: string;
  From: { Name: string; Address: string };
  To: { Name: string; Address: string }[];
  Cc: { Name: string; Address: string }[];
  Subject: string;
  Text: string;
  HTML: string;
}

export interface MailpitOptions {
  /** PEM files for STARTTLS (or implicit TLS with `requireTls`). */
  tls?: { cert: string; key: string; requireTls?: boolean; requireStartTls?: boolean };
  /** An htpasswd-style `user:password` file: AUTH is then required. */
  authFile?: string;
  /** Refuses (550) recipients not matching this regular expression. */
  allowedRecipients?: string;
  /** This SMTP port rather than a free one (to bring a server back where a client expects it). */
  smtpPort?: number;
}

export interface Mailpit {
  smtpPort: number;
  apiUrl: string;
  /** Every message received, oldest first, read in full. */
  messages(): Promise<MailpitMessage[]>;
  /** The raw headers of a message, by name. */
  headers(id: string): Promise<Record<string, string[]>>;
  stop(): Promise<void>;
}

/**
 * A real Mailpit (`go install github.com/axllent/mailpit@v1.33.1`, on PATH) on free ports with an
 * in-memory database, ready once its API answers. Its ports are found by binding a socket first;
 * another process could take one in between, so a start that fails is tried again on new ports.
 */
export async function startMailpit(opts: MailpitOptions = {}): Promise<Mailpit> {
  for (let attempt = 1; ; attempt++) {
    const [smtpPort, httpPort] = [opts.smtpPort ?? (await freePort()), await freePort()];
    const args = [
      '--smtp',
      `127.0.0.1:${smtpPort}`,
      '--listen',
      `127.0.0.1:${httpPort}`,
      '--database',
      ':memory:',
      '--disable-version-check',
      '--smtp-disable-rdns',
      '--quiet',
    ];
    if (opts.tls) args.push('--smtp-tls-cert', opts.tls.cert, '--smtp-tls-key', opts.tls.key);
    if (opts.tls?.requireTls) args.push('--smtp-require-tls');
    if (opts.tls?.requireStartTls) args.push('--smtp-require-starttls');
    if (opts.authFile) args.push('--smtp-auth-file', opts.authFile);
    if (opts.allowedRecipients) args.push('--smtp-allowed-recipients', opts.allowedRecipients);
    // `:memory:` leaves an empty marker file in the working directory: give it its own.
    const proc: ChildProcess = spawn('mailpit', args, {
      cwd: mkdtempSync(join(tmpdir(), 'vigil-mailpit-')),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    let spawnError: Error | undefined;
    proc.once('error', (err) => (spawnError = err));
    const apiUrl = `http://127.0.0.1:${httpPort}`;
    try {
      await waitFor(
        async () => {
          if (spawnError)
            throw new Error(
              `mailpit could not start (${spawnError.message}); install it with: go install github.com/axllent/mailpit@v1.33.1`,
            );
          if (proc.exitCode !== null) throw new Error(`mailpit exited with ${proc.exitCode}:\n${out}`);
          return fetch(`${apiUrl}/readyz`).then(
            (r) => r.ok,
            () => false,
          );
        },
        'mailpit to answer on /readyz',
        15_000,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      if (attempt < 3 && !spawnError && /address already in use/.test(out)) continue;
      throw err;
    }
    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${apiUrl}/api/v1/${path}`);
      if (!res.ok) throw new Error(`mailpit GET ${path}: HTTP ${res.status}`);
      return (await res.json()) as T;
    };
    return {
      smtpPort,
      apiUrl,
      async messages() {
        const list = await api<{ messages: { ID: string }[] }>('messages?limit=500');
        // The list is newest first.
        return Promise.all(list.messages.reverse().map((m) => api<MailpitMessage>(`message/${m.ID}`)));
      },
      headers: (id) => api<Record<string, string[]>>(`message/${id}/headers`),
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        await exited;
      },
    };
  }
}
