import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Agent, request } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';
import type { DatagramInput, FuzzInput, GrpcInput, HttpInput, StreamInput } from './inputs.ts';

/**
 * How a listener answered one input. The `bad` ones break the contract the fuzz targets check:
 * an HTTP 5xx other than 503-with-Retry-After, a 429 without Retry-After, gRPC INTERNAL or UNKNOWN.
 */
export interface Answer {
  cls: string;
  bad: boolean;
}

export interface Target {
  host: string;
  port: number;
}

/**
 * Framing and decoding faults are INVALID_ARGUMENT with the fault named; the only INTERNAL a
 * listener may give is its answer to a request that is not gRPC at all (HTTP 415/405, as grpc-go
 * answers it). Any other INTERNAL, or UNKNOWN, is a bug in Vigil.
 */
function grpcBad(code: number, message: string): boolean {
  return Number.isNaN(code) || code === 2 || (code === 13 && !message.startsWith('gRPC requires POST'));
}

function httpAnswer(status: number, retryAfter: string | undefined): Answer {
  if (status === 429 || status === 503)
    return { cls: retryAfter ? `${status}+Retry-After` : `${status} without Retry-After`, bad: !retryAfter };
  if (status >= 200 && status < 300) return { cls: '2xx', bad: false };
  if (status >= 400 && status < 500) return { cls: `${status}`, bad: false };
  return { cls: `${status}`, bad: true };
}

/** Sends fuzz inputs of one kind to one listener, reusing connections the way real clients do. */
export class Sender {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private session: ClientHttp2Session | undefined;
  private udp: UdpSocket | undefined;

  private readonly target: Target;
  private readonly deadlineMs: number;

  constructor(target: Target, deadlineMs: number) {
    this.target = target;
    this.deadlineMs = deadlineMs;
  }

  send(input: FuzzInput): Promise<Answer> {
    switch (input.kind) {
      case 'http':
        return this.http(input);
      case 'grpc':
        return this.grpc(input);
      case 'udp':
        return this.datagram(input);
      default:
        return this.stream(input);
    }
  }

  close(): void {
    this.agent.destroy();
    this.session?.destroy();
    this.udp?.close();
  }

  private http(input: HttpInput): Promise<Answer> {
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.target.host,
          port: this.target.port,
          method: 'POST',
          path: input.path,
          headers: input.headers,
          agent: this.agent,
          timeout: this.deadlineMs,
        },
        (res) => {
          res.resume();
          const answer = httpAnswer(res.statusCode ?? 0, res.headers['retry-after']);
          res.on('end', () => resolve(answer));
          res.on('error', () => resolve(answer));
        },
      );
      req.on('timeout', () => {
        req.destroy();
        resolve({ cls: 'hang', bad: true });
      });
      // The server may answer (413, 415) and close before the body is all written: that is an answer, not an error.
      req.on('error', (err: NodeJS.ErrnoException) =>
        resolve({ cls: `connection ${err.code ?? 'error'}`, bad: false }),
      );
      req.end(input.body);
    });
  }

  private h2(): ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      const session = http2Connect(`http://${this.target.host}:${this.target.port}`);
      session.on('error', () => {});
      session.on('goaway', () => session.close());
      this.session = session;
    }
    return this.session;
  }

  private grpc(input: GrpcInput): Promise<Answer> {
    return new Promise((resolve) => {
      let head: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      let done = false;
      const finish = (a: Answer) => {
        if (!done) resolve(a);
        done = true;
      };
      let req;
      try {
        req = this.h2().request({ ':method': 'POST', ':path': input.path, te: 'trailers', ...input.headers });
      } catch (err) {
        this.session?.destroy();
        finish({ cls: `session ${(err as NodeJS.ErrnoException).code ?? 'error'}`, bad: false });
        return;
      }
      req.setTimeout(this.deadlineMs, () => {
        req.close();
        finish({ cls: 'hang', bad: true });
      });
      req.on('response', (h) => (head = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', () => {});
      req.on('error', () => {});
      req.on('close', () => {
        const status = trailers['grpc-status'] ?? head['grpc-status'];
        if (status !== undefined) {
          const code = Number(status);
          const message = decodeURIComponent(String(trailers['grpc-message'] ?? head['grpc-message'] ?? ''));
          finish({ cls: `grpc ${code}`, bad: grpcBad(code, message) });
        } else if (head[':status'] !== undefined) {
          finish(httpAnswer(Number(head[':status']), head['retry-after'] as string | undefined));
        } else {
          finish({ cls: `stream reset ${req.rstCode}`, bad: false });
        }
      });
      req.end(input.body);
    });
  }

  private datagram(input: DatagramInput): Promise<Answer> {
    this.udp ??= createSocket('udp4');
    return new Promise((resolve) =>
      this.udp!.send(input.body, this.target.port, this.target.host, (err) =>
        resolve({ cls: err ? `send ${(err as NodeJS.ErrnoException).code}` : 'sent', bad: false }),
      ),
    );
  }

  /** Writes one connection's bytes, half-closes, and waits for the listener to close its side. */
  private stream(input: StreamInput): Promise<Answer> {
    return new Promise((resolve) => {
      let answer: Answer | undefined;
      const socket = connect(this.target.port, this.target.host, async () => {
        for (const chunk of input.chunks) if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
        socket.end();
      });
      socket.resume();
      socket.setTimeout(this.deadlineMs, () => {
        answer ??= { cls: 'hang', bad: true };
        socket.destroy();
      });
      // A reset is how a listener refuses a connection it will not read (a framing error with bytes unread), not only how a crash looks: the caller checks the process.
      socket.on(
        'error',
        (err: NodeJS.ErrnoException) => (answer ??= { cls: `connection ${err.code ?? 'error'}`, bad: false }),
      );
      socket.on('close', () => resolve(answer ?? { cls: 'closed', bad: false }));
    });
  }
}

export interface FuzzStats {
  inputs: number;
  answers: Record<string, number>;
  /** The first few inputs answered against the contract, as "seed/index: class". */
  bad: string[];
  hangs: number;
  ms: number;
}

/** The mutator seed of input `index` in a run seeded `seed`: one input replays alone. */
export function inputSeed(seed: number, index: number): number {
  return (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

export interface FuzzRun {
  seed: number;
  generate: (index: number) => FuzzInput;
  sender: Sender;
  /** Stop after this many inputs, or at this time (performance.now()), whichever comes first. */
  maxInputs: number;
  until: number;
  concurrency: number;
  /** Checked between inputs: false ends the run early (the daemon exited). */
  alive: () => boolean;
}

/** Sends inputs from `concurrency` workers until the budget is spent; counts answers by class. */
export async function fuzz(run: FuzzRun): Promise<FuzzStats> {
  const stats: FuzzStats = { inputs: 0, answers: {}, bad: [], hangs: 0, ms: 0 };
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < run.maxInputs && performance.now() < run.until && run.alive()) {
      const index = next++;
      const answer = await run.sender.send(run.generate(index));
      stats.inputs++;
      stats.answers[answer.cls] = (stats.answers[answer.cls] ?? 0) + 1;
      if (answer.cls === 'hang') stats.hangs++;
      if (answer.bad && stats.bad.length < 10) stats.bad.push(`seed ${run.seed} input ${index}: ${answer.cls}`);
    }
  };
  await Promise.all(Array.from({ length: run.concurrency }, worker));
  stats.ms = performance.now() - start;
  return stats;
}
