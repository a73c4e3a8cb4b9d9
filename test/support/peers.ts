import { request } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';

/**
 * Senders on other loopback addresses (127.0.0.2 and up answer on Linux), for limits that
 * are kept per peer address.
 */

/** POSTs `body` as JSON to /v1/events from `localAddress`; resolves the status. */
export function postJsonFrom(port: number, localAddress: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        path: '/v1/events',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP/2 session to 127.0.0.1:`port` from `localAddress`; the caller destroys it. */
export function http2From(port: number, localAddress: string): ClientHttp2Session {
  const session = http2Connect(`http://127.0.0.1:${port}`, {
    createConnection: () => connect({ port, host: '127.0.0.1', localAddress }),
  });
  session.on('error', () => {});
  return session;
}

/**
 * A gRPC logs export on `session` whose body is `frame` (a gRPC frame, possibly cut short), ended
 * unless `end` is false; resolves its grpc-status, or `reset`.
 */
export function grpcExport(session: ClientHttp2Session, frame: Buffer, end = true): Promise<string> {
  const stream = session.request({
    ':method': 'POST',
    ':path': '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => {});
  stream.resume();
  if (end) stream.end(frame);
  else stream.write(frame);
  return new Promise((resolve) => {
    let status = '';
    stream.on('response', (h) => (status = String(h['grpc-status'] ?? status)));
    stream.on('trailers', (t) => (status = String(t['grpc-status'] ?? status)));
    stream.on('close', () => resolve(status || 'reset'));
  });
}
