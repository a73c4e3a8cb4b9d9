import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
}

/**
 * A fault to answer instead of the real behaviour: a status (429, 503…), or no answer at all
 * (`hang`), optionally after doing the work (`processed`: the server acted, the client never heard).
 */
export type Fault = (Reply & { hang?: false }) | { hang: true; processed?: boolean };

type Route = (req: RecordedRequest) => Reply | undefined | Promise<Reply | undefined>;

/**
 * The HTTP plumbing every protocol fake shares: a real server on 127.0.0.1:0, every request
 * recorded, and faults queued by the test that pre-empt matching requests in order.
 */
export class FakeHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly faults: { when: (r: RecordedRequest) => boolean; fault: Fault }[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly route: Route;
  /** Called when a request has been read, before it is answered (e.g. to kill a client mid-flight). */
  onRequest: ((r: RecordedRequest) => void) | undefined;

  constructor(route: Route) {
    this.route = route;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Answers the next request matching `when` with the fault instead of handling it. */
  failNext(fault: Fault, when: (r: RecordedRequest) => boolean = () => true): void {
    this.faults.push({ when, fault });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const u = new URL(req.url ?? '/', 'http://fake');
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(rec);
    this.onRequest?.(rec);
    const i = this.faults.findIndex((f) => f.when(rec));
    if (i !== -1) {
      const { fault } = this.faults.splice(i, 1)[0]!;
      if (fault.hang) {
        if (fault.processed) void this.route(rec);
        this.hanging.add(res);
        return;
      }
      return this.reply(res, fault);
    }
    this.reply(
      res,
      (await this.route(rec)) ?? { status: 404, body: { error: `no route for ${rec.method} ${rec.path}` } },
    );
  }

  private reply(res: ServerResponse, r: Reply): void {
    const isText = typeof r.body === 'string';
    const body = r.body === undefined ? '' : isText ? (r.body as string) : JSON.stringify(r.body);
    res.writeHead(r.status, {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      ...r.headers,
    });
    res.end(body);
  }
}

export function parseJsonBody(r: RecordedRequest): unknown {
  try {
    return JSON.parse(r.body);
  } catch {
    return undefined;
  }
}
