import type { FastifyReply } from 'fastify';
import { InvalidInputError, RefusedError, TooManyRecordsError, VigilError } from '../../errors.ts';
import type { IncomingMessage } from 'node:http';
import type { AuthenticationError } from '../../extensions/auth/principal.ts';
import { PayloadTooLargeError, RequestTimeoutError, UnsupportedEncodingError } from './requestBody.ts';

export interface HttpErrorAnswer {
  status: number;
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

/** Maps Vigil errors to the HTTP answer a sender can act on (OTLP/HTTP's retry table). */
export function httpAnswerFor(err: unknown): HttpErrorAnswer {
  if (err instanceof RefusedError) {
    return {
      status: err.reason === 'exhausted' ? 429 : 503,
      code: err.code,
      message: err.message,
      retryAfterSeconds: err.retryAfterSeconds,
    };
  }
  if (err instanceof PayloadTooLargeError || err instanceof TooManyRecordsError)
    return { status: 413, code: err.code, message: err.message };
  if (err instanceof RequestTimeoutError) return { status: 408, code: err.code, message: err.message };
  if (err instanceof UnsupportedEncodingError) return { status: 415, code: err.code, message: err.message };
  if (err instanceof InvalidInputError) return { status: 400, code: err.code, message: err.message };
  if (err instanceof VigilError) return { status: 500, code: err.code, message: err.message };
  return { status: 500, code: 'VIGIL_INTERNAL', message: 'internal error; see the Vigil logs' };
}

export function sendJsonError(
  reply: FastifyReply,
  answer: HttpErrorAnswer,
  extra: Record<string, unknown> = {},
): FastifyReply {
  if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
  return reply
    .code(answer.status)
    .type('application/json')
    .send({ error: answer.message, code: answer.code, ...extra });
}

/**
 * 401 as RFC 9457 problem details, with the RFC 6750 challenge, so a client can tell "who are
 * you" from every other refusal by status alone.
 */
export function sendUnauthenticated(reply: FastifyReply, err: AuthenticationError): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="vigil"')
    .type('application/problem+json')
    .send({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: err.message, code: err.code });
}

/**
 * An answer given before the body was read whole closes the connection: the rest of the body
 * is not worth reading (a stalled sender would hold the socket), and HTTP/1.1 cannot tell
 * where the next request would start.
 */
export function closeIfBodyUnread(req: IncomingMessage, reply: FastifyReply): void {
  if (!req.complete) reply.header('connection', 'close');
}
