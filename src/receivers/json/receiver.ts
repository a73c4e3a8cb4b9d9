import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError, RefusedError, TooManyRecordsError } from '../../errors.ts';
import type { VigilEvent } from '../../model/event.ts';
import { nowNanos } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import type { Host } from '../../pipeline/host.ts';
import { UNLIMITED_RECEIVE_BUFFERS, type ReceiveBuffers, type ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import { httpServerLimits } from '../http/serverConfig.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import { readRequestBody } from '../http/requestBody.ts';
import { closeIfBodyUnread, httpAnswerFor, sendJsonError, sendUnauthenticated } from '../http/respond.ts';
import { AuthenticationError, type Authenticator } from '../../extensions/auth/principal.ts';
import type { JsonReceiverConfig } from './config.ts';
import { CHECKPOINT_EVERY, tooManyRecords } from '../recordLimit.ts';
import { JsonEventMapper } from './mapping.ts';
import { countJsonValues, countNdjsonLines } from './recordCount.ts';

export interface Rejection {
  index: number;
  line?: number;
  reason: string;
}

export interface ParsedBody {
  records: { index: number; line?: number; value: unknown }[];
  rejected: Rejection[];
}

function isNdjsonType(contentType: string): boolean {
  return /ndjson|jsonl|json-seq|jsonlines/.test(contentType);
}

/** The events parseJsonBody would find, counted from the bytes before anything is parsed. */
export function countBodyRecords(body: Uint8Array, contentType: string): number {
  return isNdjsonType(contentType) ? countNdjsonLines(body) : countJsonValues(body);
}

/**
 * One object, an array of objects, or NDJSON. NDJSON is recognised by its content type or,
 * failing that, when the body is not one JSON document but has several lines, so `curl -d @file`
 * of an .ndjson file works without the right header. A bad NDJSON line is rejected alone.
 */
export function parseJsonBody(text: string, contentType: string): ParsedBody {
  if (!isNdjsonType(contentType)) {
    try {
      const doc: unknown = JSON.parse(text);
      if (Array.isArray(doc)) return { records: doc.map((value, index) => ({ index, value })), rejected: [] };
      return { records: [{ index: 0, value: doc }], rejected: [] };
    } catch (err) {
      if (!text.trimEnd().includes('\n')) throw new InvalidInputError(`body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const out: ParsedBody = { records: [], rejected: [] };
  const lines = text.split('\n');
  let index = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      out.records.push({ index, line: i + 1, value: JSON.parse(line) });
    } catch (err) {
      out.rejected.push({ index, line: i + 1, reason: `line ${i + 1} is not valid JSON: ${(err as Error).message}` });
    }
    index++;
  }
  return out;
}

/** application/json, application/<x>+json and the NDJSON family (x-ndjson, ndjson, jsonl, json-seq, jsonlines), parameters allowed. */
const JSON_MEDIA_TYPE = /^\s*application\/(?:json|[\w.+-]*\+json|x-ndjson|ndjson|x-jsonlines|jsonlines|jsonl|json-seq)\s*(?:;.*)?$/i;

/** `POST /v1/events` (and `/ingest`): plain JSON events, one, many or NDJSON, gzip or not. */
export class JsonReceiver implements Receiver {
  private readonly settings: CreateSettings;
  private readonly config: JsonReceiverConfig;
  private readonly consumer: Consumer<VigilEvent>;
  private readonly mapper: JsonEventMapper;
  private server: FastifyInstance | undefined;
  private receiveBuffers: ReceiveBuffers = UNLIMITED_RECEIVE_BUFFERS;
  private authenticator: Authenticator | undefined;

  constructor(settings: CreateSettings, config: JsonReceiverConfig, consumer: Consumer<VigilEvent>) {
    this.settings = settings;
    this.config = config;
    this.consumer = consumer;
    this.mapper = new JsonEventMapper(config.fields);
  }

  async start(host: Host): Promise<void> {
    this.server = host.httpListener(this.config.endpoint, this.config.tls, httpServerLimits(this.config));
    this.receiveBuffers = host.receiveBuffers;
    if (this.config.auth) this.authenticator = host.authenticator(this.config.auth.authenticator);
    for (const url of this.config.paths) {
      this.server.route({ method: 'POST', url, handler: (req, reply) => this.handle(req, reply) });
      this.server.route({
        method: ['GET', 'PUT', 'DELETE', 'PATCH'],
        url,
        handler: (_req, reply) => reply.code(405).header('allow', 'POST').send({ error: 'method not allowed, supported: [POST]', code: 'VIGIL_METHOD_NOT_ALLOWED' }),
      });
    }
  }

  async shutdown(): Promise<void> {}

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const lease = this.receiveBuffers.lease();
    try {
      return await this.handleLeased(req, reply, lease);
    } finally {
      lease.release();
    }
  }

  private async handleLeased(req: FastifyRequest, reply: FastifyReply, lease: ReceiveLease): Promise<FastifyReply> {
    const { metrics, id } = this.settings;
    const contentType = String(req.headers['content-type'] ?? '');
    // Only JSON media types: text/plain and form bodies are what a web page may post to any
    // address without a CORS preflight, so any page an operator opens could inject events.
    if (!JSON_MEDIA_TYPE.test(contentType)) {
      req.raw.resume();
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      const said = contentType ? `Content-Type "${contentType}" is not supported` : 'the request has no Content-Type';
      return sendJsonError(reply, { status: 415, code: 'VIGIL_UNSUPPORTED_MEDIA_TYPE', message: `${said}; send application/json or application/x-ndjson (curl: -H 'content-type: application/json')` });
    }
    // Browsers name the page that sends; the JSON receiver serves no page, so a request from one is refused.
    if (req.headers.origin !== undefined) {
      req.raw.resume();
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendJsonError(reply, { status: 403, code: 'VIGIL_CROSS_ORIGIN', message: `requests from web pages (Origin ${JSON.stringify(req.headers.origin)}) are not accepted on the JSON receiver` });
    }
    // Who sends is settled before the body is read: an unknown caller costs no buffer.
    let tenant: string | undefined;
    try {
      tenant = this.authenticator ? (await this.authenticator.authenticate(req.headers.authorization)).tenant : undefined;
      this.consumer.admit?.(1);
      this.receiveBuffers.admit();
    } catch (err) {
      closeIfBodyUnread(req.raw, reply);
      if (!(err instanceof AuthenticationError)) return this.refuse(reply, err, 0);
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendUnauthenticated(reply, err);
    }
    let parsed: ParsedBody;
    try {
      const body = await readRequestBody(req.raw, { limit: this.config.max_request_body_size, timeoutMs: this.config.read_timeout, lease });
      if (body.length === 0) throw new InvalidInputError('request body is empty; send a JSON object, an array of objects or NDJSON');
      const records = countBodyRecords(body, contentType);
      const max = this.config.max_records_per_request;
      if (records > max) throw tooManyRecords(records, max, `receivers.${id}.max_records_per_request`);
      try {
        this.consumer.admit?.(records);
      } catch (err) {
        if (err instanceof TooManyRecordsError) throw err;
        return this.refuse(reply, err, records);
      }
      parsed = parseJsonBody(body.toString('utf8'), contentType);
    } catch (err) {
      closeIfBodyUnread(req.raw, reply);
      if (err instanceof RefusedError) return this.refuse(reply, err, 0);
      if (err instanceof TooManyRecordsError) metrics.receiverRejected.inc({ receiver: id, signal: 'logs' }, err.records);
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      return sendJsonError(reply, httpAnswerFor(err));
    }

    const observed = nowNanos();
    const events: VigilEvent[] = [];
    const rejected = parsed.rejected;
    let untilCheck = CHECKPOINT_EVERY;
    for (const r of parsed.records) {
      if (--untilCheck === 0) {
        untilCheck = CHECKPOINT_EVERY;
        try {
          this.consumer.checkMemory?.();
        } catch (err) {
          return this.refuse(reply, err, parsed.records.length);
        }
      }
      const m = this.mapper.map(r.value, observed);
      // The authenticated tenant wins over whatever the body claims.
      if (m.ok && tenant !== undefined) m.event.tenant = tenant;
      if (m.ok) events.push(m.event);
      else rejected.push({ index: r.index, ...(r.line !== undefined ? { line: r.line } : {}), reason: m.reason });
    }
    rejected.sort((a, b) => a.index - b.index);
    if (rejected.length) metrics.receiverRejected.inc({ receiver: id, signal: 'logs' }, rejected.length);

    if (events.length === 0) {
      metrics.receiverRequests.inc({ receiver: id, outcome: 'invalid' });
      const first = rejected[0];
      return sendJsonError(reply, { status: 400, code: 'VIGIL_INVALID_INPUT', message: first ? `no event accepted; first error: ${first.reason}` : 'no event in the request' }, { accepted: 0, rejected });
    }
    try {
      await this.consumer.consume(events);
    } catch (err) {
      return this.refuse(reply, err, events.length);
    }
    metrics.receiverAccepted.inc({ receiver: id, signal: 'logs' }, events.length);
    metrics.receiverRequests.inc({ receiver: id, outcome: 'success' });
    return reply.code(200).send({ accepted: events.length, rejected });
  }

  private refuse(reply: FastifyReply, err: unknown, records: number): FastifyReply {
    const { metrics, id } = this.settings;
    // Refused before reading, the record count is unknown: the request still counts.
    if (records > 0) metrics.receiverRefused.inc({ receiver: id, signal: 'logs' }, records);
    metrics.receiverRequests.inc({ receiver: id, outcome: 'refused' });
    return sendJsonError(reply, httpAnswerFor(err));
  }
}
