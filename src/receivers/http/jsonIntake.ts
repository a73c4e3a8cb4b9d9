import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError, RefusedError, TooManyRecordsError } from '../../errors.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { CreateSettings } from '../../pipeline/component.ts';
import { UNLIMITED_RECEIVE_BUFFERS, type ReceiveBuffers, type ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import { CHECKPOINT_EVERY, jsonContainerCap, tooManyRecords } from '../recordLimit.ts';
import type { RecordCounter } from '../json/recordCount.ts';
import { admitPeer, peerLease } from '../peerShare.ts';
import { readRequestBody } from './requestBody.ts';
import { closeIfBodyUnread, httpAnswerFor, sendJsonError, sendUnauthenticated } from './respond.ts';
import { AuthenticationError, type Authenticator } from '../../extensions/auth/principal.ts';

export interface JsonIntakeOptions {
  /** The JSON media types taken; anything else is answered 415. */
  mediaType: RegExp;
  /** What to send instead, for the 415 answer: `application/json`. */
  mediaHint: string;
  /** The 400 answer to an empty body: what the body should hold. */
  emptyBody: string;
  /** Counts the records of a body of this type from its bytes as they arrive, before it is parsed. */
  recordCounter(contentType: string): RecordCounter;
  max_request_body_size: number;
  max_records_per_request: number;
  read_timeout: number;
  min_body_rate: number;
  /** How IPv6 senders are grouped into peers (peerGroup). */
  peer_ipv6_prefix: number;
}

/** A body read whole and admitted: its records fit the request cap and the pipeline. */
export interface AdmittedBody {
  body: Buffer;
  contentType: string;
  /** The tenant authentication named, which wins over any the records claim. */
  tenant?: string;
}

export interface MapOutcome {
  ok: true;
  event: VigilEvent;
}
export interface RejectOutcome {
  ok: false;
  reason: string;
}

/**
 * The shell of a receiver taking JSON records over HTTP POST (the json and alertmanager
 * receivers): it refuses what a web page could send, admits before reading, reads and counts
 * the body within its limits, maps records with memory checkpoints, and hands events to the
 * pipeline, keeping the receiver metrics. The receiver parses and answers.
 */
export class JsonIntake {
  private readonly settings: CreateSettings;
  private readonly consumer: Consumer<VigilEvent>;
  private readonly opts: JsonIntakeOptions;
  private receiveBuffers: ReceiveBuffers = UNLIMITED_RECEIVE_BUFFERS;
  /** Set by a receiver configured with `auth`: callers are known before their body is read. */
  authenticator: Authenticator | undefined;

  constructor(settings: CreateSettings, consumer: Consumer<VigilEvent>, opts: JsonIntakeOptions) {
    this.settings = settings;
    this.consumer = consumer;
    this.opts = opts;
  }

  /**
   * Serves POST on `url` with `handle`, called with the admitted body, and answers 405 to the
   * other methods. `handle` runs while the body's bytes are leased from the receive budget.
   */
  route(
    server: FastifyInstance,
    receiveBuffers: ReceiveBuffers,
    url: string,
    handle: (req: FastifyRequest, reply: FastifyReply, body: AdmittedBody) => Promise<FastifyReply>,
  ): void {
    this.receiveBuffers = receiveBuffers;
    server.route({
      method: 'POST',
      url,
      handler: async (req, reply) => {
        const lease = peerLease(this.receiveBuffers, req.socket.remoteAddress, this.opts.peer_ipv6_prefix);
        try {
          const body = await this.read(req, reply, lease);
          return 'body' in body ? await handle(req, reply, body) : body;
        } finally {
          lease.release();
        }
      },
    });
    server.route({
      method: ['GET', 'PUT', 'DELETE', 'PATCH'],
      url,
      handler: (_req, reply) =>
        reply
          .code(405)
          .header('allow', 'POST')
          .send({ error: 'method not allowed, supported: [POST]', code: 'VIGIL_METHOD_NOT_ALLOWED' }),
    });
  }

  private async read(
    req: FastifyRequest,
    reply: FastifyReply,
    lease: ReceiveLease,
  ): Promise<AdmittedBody | FastifyReply> {
    const { metrics, id } = this.settings;
    const contentType = String(req.headers['content-type'] ?? '');
    // Only JSON media types: text/plain and form bodies are what a web page may post to any
    // address without a CORS preflight, so any page an operator opens could inject events.
    if (!this.opts.mediaType.test(contentType)) {
      req.raw.resume();
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      const said = contentType ? `Content-Type "${contentType}" is not supported` : 'the request has no Content-Type';
      return sendJsonError(reply, {
        status: 415,
        code: 'VIGIL_UNSUPPORTED_MEDIA_TYPE',
        message: `${said}; send ${this.opts.mediaHint} (curl: -H 'content-type: application/json')`,
      });
    }
    // Browsers name the page that sends; these receivers serve no page, so a request from one is refused.
    if (req.headers.origin !== undefined) {
      req.raw.resume();
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendJsonError(reply, {
        status: 403,
        code: 'VIGIL_CROSS_ORIGIN',
        message: `requests from web pages (Origin ${JSON.stringify(req.headers.origin)}) are not accepted on the ${id} receiver`,
      });
    }
    // Who sends is settled before the body is read: an unknown caller costs no buffer.
    let tenant: string | undefined;
    try {
      tenant = this.authenticator
        ? (await this.authenticator.authenticate(req.headers.authorization)).tenant
        : undefined;
      this.consumer.admit?.(1);
      admitPeer(this.receiveBuffers, req.socket.remoteAddress, this.opts.peer_ipv6_prefix);
    } catch (err) {
      closeIfBodyUnread(req.raw, reply);
      if (!(err instanceof AuthenticationError)) return this.refuse(reply, err, 0);
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendUnauthenticated(reply, err);
    }
    try {
      const max = this.opts.max_records_per_request;
      const counter = this.opts.recordCounter(contentType);
      const configPath = `receivers.${id}.max_records_per_request`;
      const overCap = (records: number) => tooManyRecords(records, max, configPath);
      const containerCap = jsonContainerCap(max, configPath, counter);
      const body = await readRequestBody(req.raw, {
        limit: this.opts.max_request_body_size,
        timeoutMs: this.opts.read_timeout,
        minBytesPerSecond: this.opts.min_body_rate,
        lease,
        inspect: (chunk) => {
          const records = counter.feed(chunk);
          if (records > max) throw overCap(records);
          containerCap(chunk);
        },
      });
      if (body.length === 0) throw new InvalidInputError(`request body is empty; send ${this.opts.emptyBody}`);
      const records = counter.total();
      if (records > max) throw overCap(records);
      try {
        this.consumer.admit?.(records);
      } catch (err) {
        if (err instanceof TooManyRecordsError) throw err;
        return this.refuse(reply, err, records);
      }
      return { body, contentType, ...(tenant !== undefined ? { tenant } : {}) };
    } catch (err) {
      closeIfBodyUnread(req.raw, reply);
      if (err instanceof RefusedError) return this.refuse(reply, err, 0);
      if (err instanceof TooManyRecordsError)
        metrics.receiverRejected.inc({ receiver: id, signal: 'logs' }, err.records);
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendJsonError(reply, httpAnswerFor(err));
    }
  }

  /**
   * Maps every record, sampling memory every CHECKPOINT_EVERY records; past the memory limit
   * the request is refused and the refusal sent is returned instead of events. Rejections are
   * counted and handed to `onReject`.
   */
  mapAll<T>(
    reply: FastifyReply,
    records: readonly T[],
    map: (record: T) => MapOutcome | RejectOutcome,
    onReject: (record: T, reason: string) => void,
  ): VigilEvent[] | FastifyReply {
    const events: VigilEvent[] = [];
    let rejected = 0;
    let untilCheck = CHECKPOINT_EVERY;
    for (const r of records) {
      if (--untilCheck === 0) {
        untilCheck = CHECKPOINT_EVERY;
        try {
          this.consumer.checkMemory?.();
        } catch (err) {
          return this.refuse(reply, err, records.length);
        }
      }
      const m = map(r);
      if (m.ok) events.push(m.event);
      else {
        rejected++;
        onReject(r, m.reason);
      }
    }
    this.countRejected(rejected);
    return events;
  }

  /** Counts records rejected as invalid. */
  countRejected(records: number): void {
    if (records > 0)
      this.settings.metrics.receiverRejected.inc({ receiver: this.settings.id, signal: 'logs' }, records);
  }

  /**
   * Hands the events to the pipeline: true once accepted; false once refused, the refusal sent.
   * (Not the reply: a Fastify reply is a thenable, which an async function's promise would
   * follow until the response is sent, and then resolve to undefined.)
   */
  deliver(reply: FastifyReply, events: VigilEvent[]): Promise<boolean> {
    return this.handOn(reply, events.length, () => this.consumer.consume(events));
  }

  /**
   * Hands the pipeline `n` records as lines (see `Consumer.consumeLines`, which it must have),
   * as `deliver` hands events.
   */
  deliverLines(reply: FastifyReply, lines: Uint8Array[], n: number, written: () => void): Promise<boolean> {
    return this.handOn(reply, n, () => this.consumer.consumeLines!(lines, written));
  }

  private async handOn(reply: FastifyReply, n: number, take: () => Promise<void>): Promise<boolean> {
    const { metrics, id } = this.settings;
    try {
      await take();
    } catch (err) {
      this.refuse(reply, err, n);
      return false;
    }
    metrics.receiverAccepted.inc({ receiver: id, signal: 'logs', transport: 'http' }, n);
    metrics.receiverRequests.inc({ receiver: id, outcome: 'success' });
    return true;
  }

  /** Counts a request whose records were all invalid; the receiver answers it. */
  countInvalid(): void {
    this.settings.metrics.receiverRequests.inc({ receiver: this.settings.id, outcome: 'invalid' });
  }

  refuse(reply: FastifyReply, err: unknown, records: number): FastifyReply {
    const { metrics, id } = this.settings;
    // Refused before reading, the record count is unknown: the request still counts.
    if (records > 0) metrics.receiverRefused.inc({ receiver: id, signal: 'logs', transport: 'http' }, records);
    metrics.receiverRequests.inc({ receiver: id, outcome: 'refused' });
    metrics.countMemoryRefusal(id, err);
    return sendJsonError(reply, httpAnswerFor(err));
  }
}
