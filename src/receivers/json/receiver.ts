import type { FastifyReply } from 'fastify';
import { InvalidInputError } from '../../errors.ts';
import type { VigilEvent } from '../../model/event.ts';
import { nowNanos } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import type { Host } from '../../pipeline/host.ts';
import { httpServerLimits } from '../http/serverConfig.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import { JsonIntake, type AdmittedBody } from '../http/jsonIntake.ts';
import { httpAnswerFor, sendJsonError } from '../http/respond.ts';
import type { JsonReceiverConfig } from './config.ts';
import { JsonBodyReader } from './bodyReader.ts';
import { JsonEventMapper } from './mapping.ts';
import { JsonValueCounter, NdjsonLineCounter, type RecordCounter } from './recordCount.ts';

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

/** Counts the events parseJsonBody would find, from the bytes as they arrive, before anything is parsed. */
export function bodyRecordCounter(contentType: string): RecordCounter {
  return isNdjsonType(contentType) ? new NdjsonLineCounter() : new JsonValueCounter();
}

/** The same count for a whole body. */
export function countBodyRecords(body: Uint8Array, contentType: string): number {
  const counter = bodyRecordCounter(contentType);
  counter.feed(body);
  return counter.total();
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
      if (!text.trimEnd().includes('\n'))
        throw new InvalidInputError(`body is not valid JSON: ${(err as Error).message}`);
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
const JSON_MEDIA_TYPE =
  /^\s*application\/(?:json|[\w.+-]*\+json|x-ndjson|ndjson|x-jsonlines|jsonlines|jsonl|json-seq)\s*(?:;.*)?$/i;

/** `POST /v1/events` (and `/ingest`): plain JSON events, one, many or NDJSON, gzip or not. */
export class JsonReceiver implements Receiver {
  private readonly config: JsonReceiverConfig;
  private readonly mapper: JsonEventMapper;
  private readonly intake: JsonIntake;
  private readonly consumer: Consumer<VigilEvent>;
  /** Reads bodies where they lie (undefined for a mapping it does not read: see `JsonBodyReader.for`). */
  private readonly reader: JsonBodyReader | undefined;
  /** Whether the consumer takes lines (`Consumer.consumeLines`): events then go as their lines. */
  private readonly takesLines: boolean;

  constructor(settings: CreateSettings, config: JsonReceiverConfig, consumer: Consumer<VigilEvent>) {
    this.config = config;
    this.consumer = consumer;
    this.mapper = new JsonEventMapper(config.fields);
    this.reader = JsonBodyReader.for(config.fields);
    this.takesLines = consumer.consumeLines !== undefined;
    this.intake = new JsonIntake(settings, consumer, {
      mediaType: JSON_MEDIA_TYPE,
      mediaHint: 'application/json or application/x-ndjson',
      emptyBody: 'a JSON object, an array of objects or NDJSON',
      recordCounter: bodyRecordCounter,
      max_request_body_size: config.max_request_body_size,
      max_records_per_request: config.max_records_per_request,
      read_timeout: config.read_timeout,
      min_body_rate: config.min_body_rate,
      peer_ipv6_prefix: config.peer_ipv6_prefix,
    });
  }

  async start(host: Host): Promise<void> {
    const server = host.httpListener(this.config.endpoint, this.config.tls, httpServerLimits(this.config));
    if (this.config.auth) this.intake.authenticator = host.authenticator(this.config.auth.authenticator);
    for (const url of this.config.paths)
      this.intake.route(server, host.receiveBuffers, url, (_req, reply, body) => this.handle(reply, body));
  }

  async shutdown(): Promise<void> {}

  private async handle(reply: FastifyReply, admitted: AdmittedBody): Promise<FastifyReply> {
    const reader = this.reader;
    if (reader !== undefined && (await this.handleRead(reply, reader, admitted))) return reply;
    const { body, contentType, tenant } = admitted;
    const intake = this.intake;
    let parsed: ParsedBody;
    try {
      parsed = parseJsonBody(body.toString('utf8'), contentType);
    } catch (err) {
      intake.countInvalid();
      return sendJsonError(reply, httpAnswerFor(err));
    }
    const observed = nowNanos();
    const rejected = parsed.rejected;
    const unparsed = rejected.length;
    const map = (r: (typeof parsed.records)[number]) => {
      const m = this.mapper.map(r.value, observed);
      // The authenticated tenant wins over whatever the body claims.
      if (m.ok && tenant !== undefined) m.event.tenant = tenant;
      return m;
    };
    const events = intake.mapAll(reply, parsed.records, map, (r, reason) =>
      rejected.push({ index: r.index, ...(r.line !== undefined ? { line: r.line } : {}), reason }),
    );
    if (!Array.isArray(events)) return events;
    intake.countRejected(unparsed);
    rejected.sort((a, b) => a.index - b.index);

    if (events.length === 0) {
      intake.countInvalid();
      const first = rejected[0];
      return sendJsonError(
        reply,
        {
          status: 400,
          code: 'VIGIL_INVALID_INPUT',
          message: first ? `no event accepted; first error: ${first.reason}` : 'no event in the request',
        },
        { accepted: 0, rejected },
      );
    }
    if (await intake.deliver(reply, events)) reply.code(200).send({ accepted: events.length, rejected });
    return reply;
  }

  /**
   * A body whose every record the reader takes, handed on as its events' lines when the
   * pipeline takes lines, else as its events (`JsonBodyReader`), and answered: true. False,
   * nothing handed on or answered, for any other body, which the parse-and-map path then
   * answers (the rejections it lists are that path's).
   */
  private async handleRead(
    reply: FastifyReply,
    reader: JsonBodyReader,
    { body, contentType, tenant }: AdmittedBody,
  ): Promise<boolean> {
    const ndjson = isNdjsonType(contentType);
    const checkpoint = () => this.consumer.checkMemory?.();
    const lines: Uint8Array[] = [];
    let events: VigilEvent[] | undefined;
    let n: number;
    try {
      if (this.takesLines) n = reader.lines(body, ndjson, nowNanos(), tenant, lines, checkpoint);
      else {
        events = reader.events(body, ndjson, nowNanos(), tenant, checkpoint);
        n = events === undefined ? -1 : events.length;
      }
    } catch (err) {
      this.intake.refuse(reply, err, countBodyRecords(body, contentType));
      return true;
    }
    if (n < 0) return false;
    const accepted =
      events === undefined
        ? await this.intake.deliverLines(reply, lines, n, () => reader.written(lines))
        : await this.intake.deliver(reply, events);
    if (accepted) reply.code(200).send({ accepted: n, rejected: [] });
    return true;
  }
}
