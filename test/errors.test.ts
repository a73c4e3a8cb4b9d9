import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBLEMS } from '../src/api/problem.ts';
import {
  answerFor,
  ERROR_CODES,
  ExportFailedError,
  GrpcCode,
  InvalidInputError,
  MemoryLimitError,
  QueueFullError,
  ShuttingDownError,
  TooManyRecordsError,
} from '../src/errors.ts';
import { AuthenticationError, AuthenticationUnavailableError } from '../src/extensions/auth/principal.ts';
import { ReceiveBuffersFullError } from '../src/pipeline/receiveBuffers.ts';
import { httpAnswerFor } from '../src/receivers/http/respond.ts';
import { PayloadTooLargeError, RequestTimeoutError } from '../src/receivers/http/requestBody.ts';
import { failureFor, UnsupportedMediaTypeError } from '../src/receivers/otlp/status.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

/**
 * Every `'VIGIL_…'` literal in the sources: the codes Vigil can raise. The web console's
 * browser code (src/api/console/) only reads codes the API sent, so it is not a source of them.
 */
function codesRaised(): Set<string> {
  const codes = new Set<string>();
  const browser = new URL('../src/api/console/', import.meta.url).pathname;
  for (const file of sourceFiles(new URL('../src', import.meta.url).pathname).filter((f) => !f.startsWith(browser)))
    for (const m of readFileSync(file, 'utf8').matchAll(/'(VIGIL_[A-Z0-9_]+)'/g)) codes.add(m[1]!);
  return codes;
}

describe('the error code table', () => {
  it('lists every code the sources raise, and no code they do not', () => {
    const raised = codesRaised();
    const listed = new Set(Object.keys(ERROR_CODES));
    expect([...raised].filter((c) => !listed.has(c)).sort(), 'codes missing from ERROR_CODES').toEqual([]);
    expect([...listed].filter((c) => !raised.has(c)).sort(), 'codes nothing raises').toEqual([]);
  });

  it('says back-pressure is retryable and a refused request is not, as OTLP clients read the statuses', () => {
    for (const [code, m] of Object.entries(ERROR_CODES)) {
      if (m.http === 429) expect({ code, ...m }).toMatchObject({ grpc: GrpcCode.RESOURCE_EXHAUSTED, retryable: true });
      if (m.http === 400 || m.http === 401 || m.http === 403 || m.http === 413 || m.http === 415)
        expect({ code, retryable: m.retryable }).toEqual({ code, retryable: false });
    }
  });

  it("gives the operators' API the same status for every code both know", () => {
    for (const [code, p] of Object.entries(PROBLEMS))
      expect({ code, status: ERROR_CODES[code as keyof typeof ERROR_CODES].http }).toEqual({ code, status: p.status });
  });

  it('answers each error the same way over HTTP and gRPC, with Retry-After for back-pressure', () => {
    const cases: [unknown, number, number, number | undefined][] = [
      [new QueueFullError('logs', 10), 429, GrpcCode.RESOURCE_EXHAUSTED, 1],
      [new MemoryLimitError(300, 256), 429, GrpcCode.RESOURCE_EXHAUSTED, 1],
      [new ReceiveBuffersFullError(1 << 20), 429, GrpcCode.RESOURCE_EXHAUSTED, 1],
      [new ShuttingDownError(), 503, GrpcCode.UNAVAILABLE, 5],
      [new ExportFailedError('clickhouse', new Error('down')), 503, GrpcCode.UNAVAILABLE, 5],
      [new AuthenticationUnavailableError('keys unreachable'), 503, GrpcCode.UNAVAILABLE, 5],
      [new AuthenticationError('no token'), 401, GrpcCode.UNAUTHENTICATED, undefined],
      [new InvalidInputError('bad'), 400, GrpcCode.INVALID_ARGUMENT, undefined],
      [new TooManyRecordsError('too many', 11, 10), 413, GrpcCode.RESOURCE_EXHAUSTED, undefined],
      [new PayloadTooLargeError(1024), 413, GrpcCode.RESOURCE_EXHAUSTED, undefined],
      [new RequestTimeoutError(1000), 408, GrpcCode.DEADLINE_EXCEEDED, undefined],
      [new UnsupportedMediaTypeError('text/csv'), 415, GrpcCode.UNIMPLEMENTED, undefined],
      [new TypeError('x is undefined'), 500, GrpcCode.INTERNAL, undefined],
    ];
    for (const [err, http, grpc, retryAfterSeconds] of cases) {
      const otlp = failureFor(err);
      const plain = httpAnswerFor(err);
      expect({ http: otlp.http, grpc: otlp.grpc, retryAfterSeconds: otlp.retryAfterSeconds }).toEqual({
        http,
        grpc,
        retryAfterSeconds,
      });
      expect({ status: plain.status, retryAfterSeconds: plain.retryAfterSeconds }).toEqual({
        status: http,
        retryAfterSeconds,
      });
    }
    // A bug's text stays in the log; the sender learns only that it was internal.
    expect(answerFor(new TypeError('secret detail')).message).not.toContain('secret');
  });
});
