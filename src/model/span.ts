import type { Attributes } from './attributes.ts';
import type { InstrumentationScope } from './event.ts';

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
}

/** OTel Span.SpanKind and Status.StatusCode numbers, kept as on the wire. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  /** W3C trace flags (low 8 bits) and the is-remote bits, as OTLP Span.flags carries them; absent when the source has none. */
  flags?: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  resource: Attributes;
  scope?: InstrumentationScope;
  events: SpanEvent[];
  links: SpanLink[];
  statusCode: number;
  statusMessage: string;
  service: string;
  tenant: string;
}

export const SpanStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
