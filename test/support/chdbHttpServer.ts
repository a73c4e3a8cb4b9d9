import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server, Socket } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Session } from 'chdb';

/**
 * ClickHouse's HTTP interface (https://clickhouse.com/docs/interfaces/http), served from an
 * embedded chdb engine, so @clickhouse/client can be tested over real HTTP without a server.
 * What it speaks, as ClickHouse does:
 * - `GET /ping` and `GET /` → `Ok.`;
 * - the statement in the `query` URL parameter, in the body, or both (param, newline, body);
 *   for `INSERT ... FORMAT <fmt>` in the URL the body is the data;
 * - `param_<name>` values for `{name:Type}` placeholders, `query_id`, `default_format`;
 * - every other URL parameter is a setting: they are applied to inserts (so
 *   `insert_deduplication_token` is honoured by chdb itself, given tables with
 *   `non_replicated_deduplication_window`); on other statements they are accepted and ignored;
 * - credentials as basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` headers or
 *   `user`/`password` parameters; wrong ones get 403 with code 516 AUTHENTICATION_FAILED;
 * - gzip request bodies (`Content-Encoding: gzip`) and gzip responses when asked with
 *   `enable_http_compression=1` + `Accept-Encoding: gzip`;
 * - errors as `Code: N. DB::Exception: ... (NAME) (version V)` with ClickHouse's status
 *   mapping and the `X-ClickHouse-Exception-Code` header; `X-ClickHouse-Summary` on success.
 * Fault switches for tests: `down()`/`up()` (refuse connections), `delayMs` (slow server),
 * `dropResponses` (commit an insert, then cut the connection before answering).
 */
export interface ChdbHttpServer {
  url: string;
  port: number;
  session: Session;
  version: string;
  /** Every INSERT that reached the engine: table, dedup token, payload rows. */
  inserts: { table: string; token: string | undefined; rows: number }[];
  /** Delay before each request is handled, in ms. */
  delayMs: number;
  /** How many upcoming inserts are committed but answered by a cut connection. */
  dropResponses: number;
  /** Requests being handled right now (for back-pressure checks). */
  inFlight: number;
  /** Of those, the INSERTs (other reads, such as table sizes, may run beside an insert). */
  insertsInFlight: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const RESERVED = new Set([
  'query',
  'database',
  'user',
  'password',
  'query_id',
  'default_format',
  'session_id',
  'session_timeout',
  'session_check',
  'compress',
  'decompress',
  'enable_http_compression',
  'http_zlib_compression_level',
  'wait_end_of_query',
  'buffer_size',
  'role',
]);

/** ClickHouse's exceptionCodeToHTTPStatus, for the codes a client meets. */
function httpStatus(code: number): number {
  if (code === 194) return 401;
  if ([192, 193, 516, 497].includes(code)) return 403;
  if ([6, 26, 27, 32, 36, 38, 41, 53, 62, 69, 72, 117, 130].includes(code)) return 400;
  if ([46, 47, 60, 73, 81, 115].includes(code)) return 404;
  return 500;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function credentials(req: IncomingMessage, params: URLSearchParams): { user: string; password: string } {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Basic ')) {
    const text = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = text.indexOf(':');
    return { user: decodeURIComponent(text.slice(0, colon)), password: decodeURIComponent(text.slice(colon + 1)) };
  }
  const hUser = req.headers['x-clickhouse-user'];
  if (typeof hUser === 'string') return { user: hUser, password: String(req.headers['x-clickhouse-key'] ?? '') };
  return { user: params.get('user') ?? 'default', password: params.get('password') ?? '' };
}

const INSERT = /^\s*INSERT\s+INTO\s+`?(\w+)`?\.`?(\w+)`?\s*(?:\(([^)]*)\)\s*)?FORMAT\s+(\w+)\s*$/i;

/** `tls` (PEM cert and key) serves HTTPS, as ClickHouse's https_port does. */
export async function startChdbHttpServer(opts: {
  path: string;
  users?: Record<string, string>;
  tls?: { cert: Buffer; key: Buffer };
}): Promise<ChdbHttpServer> {
  const session = new Session(opts.path);
  const users = opts.users ?? { default: '' };
  const version = (await session.queryAsync('SELECT version()', { format: 'TabSeparated' })).text().trim();
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;

  const fail = (res: ServerResponse, code: number, message: string, compress: boolean) => {
    const text = /^Code: \d+/.test(message) ? message : `Code: ${code}. DB::Exception: ${message}`;
    send(
      res,
      httpStatus(code),
      `${text.trim()} (version ${version})\n`,
      { 'X-ClickHouse-Exception-Code': String(code) },
      compress,
    );
  };

  const send = (
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string>,
    compress: boolean,
  ) => {
    let payload = typeof body === 'string' ? Buffer.from(body) : body;
    const h: Record<string, string> = {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Server-Display-Name': 'chdb',
      'X-ClickHouse-Timezone': 'UTC',
      ...headers,
    };
    if (compress) {
      payload = gzipSync(payload);
      h['Content-Encoding'] = 'gzip';
    }
    res.writeHead(status, { ...h, 'Content-Length': String(payload.length) });
    res.end(payload);
  };

  const summary = (written: number, bytes: number, started: bigint) =>
    JSON.stringify({
      read_rows: '0',
      read_bytes: '0',
      written_rows: String(written),
      written_bytes: String(bytes),
      total_rows_to_read: '0',
      result_rows: String(written),
      result_bytes: String(bytes),
      elapsed_ns: String(process.hrtime.bigint() - started),
    });

  const fixture: ChdbHttpServer = {
    url: '',
    port: 0,
    session,
    version,
    inserts: [],
    delayMs: 0,
    dropResponses: 0,
    inFlight: 0,
    insertsInFlight: 0,
    async down() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async up() {
      server = makeServer();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      await fixture.down();
      session.close();
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const params = url.searchParams;
    const wantsGzip =
      params.get('enable_http_compression') === '1' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    let body = await readBody(req);
    if (fixture.delayMs > 0) await new Promise((r) => setTimeout(r, fixture.delayMs));
    if (url.pathname === '/ping' || (req.method === 'GET' && url.pathname === '/' && !params.has('query')))
      return send(res, 200, 'Ok.\n', {}, false);

    const { user, password } = credentials(req, params);
    if (!(user in users) || users[user] !== password) {
      return fail(
        res,
        516,
        `${user}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)`,
        wantsGzip,
      );
    }
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const queryId = params.get('query_id') ?? randomUUID();
    const settings: Record<string, string> = {};
    const bind: Record<string, string> = {};
    for (const [k, v] of params) {
      if (k.startsWith('param_')) bind[k.slice(6)] = v;
      else if (!RESERVED.has(k)) settings[k] = v;
    }
    const headers = { 'X-ClickHouse-Query-Id': queryId };
    const inUrl = params.get('query');
    const insert = inUrl ? INSERT.exec(inUrl) : null;
    try {
      if (insert) {
        const rows =
          body.length === 0
            ? 0
            : body
                .toString('utf8')
                .split('\n')
                .filter((l) => l.length > 0).length;
        await session.insert({
          table: `${insert[1]}.${insert[2]}`,
          values: body,
          format: insert[4] as 'JSONEachRow',
          settings,
          ...(insert[3] ? { columns: insert[3].split(',').map((c) => c.trim().replace(/`/g, '')) } : {}),
        });
        fixture.inserts.push({ table: `${insert[1]}.${insert[2]}`, token: settings.insert_deduplication_token, rows });
        if (fixture.dropResponses > 0) {
          fixture.dropResponses--;
          req.socket.destroy();
          return;
        }
        return send(
          res,
          200,
          '',
          { ...headers, 'X-ClickHouse-Summary': summary(rows, body.length, started) },
          wantsGzip,
        );
      }
      const sql = [inUrl, body.length ? body.toString('utf8') : undefined]
        .filter((s) => s !== undefined && s !== null)
        .join('\n');
      const format = params.get('default_format') ?? 'TabSeparated';
      const result = Object.keys(bind).length
        ? await session.queryBindAsync(sql, bind, { format })
        : await session.queryAsync(sql, { format });
      const out = Buffer.from(result.bytes());
      return send(res, 200, out, { ...headers, 'X-ClickHouse-Summary': summary(0, 0, started) }, wantsGzip);
    } catch (err) {
      const e = err as { clickhouseCode?: number; message: string };
      return fail(res, e.clickhouseCode ?? 1002, e.message, wantsGzip);
    }
  }

  function makeServer(): Server {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const insert = /^\s*INSERT\b/i.test(new URL(req.url ?? '/', 'http://localhost').searchParams.get('query') ?? '');
      fixture.inFlight++;
      if (insert) fixture.insertsInFlight++;
      handle(req, res)
        .catch((err: Error) => {
          if (!res.headersSent) fail(res, 1002, err.message, false);
        })
        .finally(() => {
          fixture.inFlight--;
          if (insert) fixture.insertsInFlight--;
        });
    };
    const s = opts.tls
      ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
      : createServer(onRequest);
    // ClickHouse closes idle keep-alive connections after 3 s (keep_alive_timeout); the client expects that.
    s.keepAliveTimeout = 3000;
    s.on(opts.tls ? 'secureConnection' : 'connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    return s as Server;
  }

  server = makeServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  fixture.port = port;
  fixture.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return fixture;
}
