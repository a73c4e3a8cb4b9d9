import type { FastifyReply } from 'fastify';
import { answerFor } from '../../errors.ts';
import type { IncomingMessage } from 'node:http';
import type { AuthenticationError } from '../../extensions/auth/principal.ts';

export interface HttpErrorAnswer {
  status: number;
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

/** The HTTP answer a sender can act on, from the table in src/errors.ts (OTLP/HTTP's retry table). */
export function httpAnswerFor(err: unknown): HttpErrorAnswer {
  const a = answerFor(err);
  const answer: HttpErrorAnswer = { status: a.http, code: a.code, message: a.message };
  if (a.retryAfterSeconds !== undefined) answer.retryAfterSeconds = a.retryAfterSeconds;
  return answer;
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
  if (req.complete) return;
  reply.header('connection', 'close');
  lingerOnClose(req);
}

/** How long a connection answered before its body was in goes on reading (and dropping) what still comes. */
const LINGER_MS = 2_000;

/**
 * Closing a socket with bytes of the client's still unread makes the kernel reset it, and a
 * client still writing its body then meets a broken pipe and may give up before it reads the
 * answer it was sent (a raw Node socket does: it closes on the write error, the answer unread).
 * So, as web servers do (a lingering close), once the answer is out the connection is
 * half-closed and what still comes is read and dropped, until the client closes its side or
 * LINGER_MS have passed.
 */
function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket;
  // The server calls it once an answer with `connection: close` is out.
  socket.destroySoon = () => {
    socket.end();
    const drop = () => undefined;
    req.on('data', drop);
    req.resume();
    socket.on('data', drop);
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('end', () => socket.destroy());
    socket.once('close', () => clearTimeout(timer));
  };
}
