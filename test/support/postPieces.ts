import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/**
 * POSTs `pieces` to `url` one write at a time (each after the previous was handed to the
 * socket). With `declared` longer than the pieces the request stays open, so an answer can only
 * come from what was sent; none within `answerWithinMs` fails with how much that was.
 */
export function postPieces(
  url: string,
  pieces: Buffer[],
  headers: Record<string, string>,
  declared = pieces.reduce((n, p) => n + p.length, 0),
  answerWithinMs = 20_000,
): Promise<HttpAnswer> {
  const sent = pieces.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-length': String(declared), ...headers } },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(deadline);
          req.destroy();
          resolve({ status: res.statusCode!, body: Buffer.concat(chunks) });
        });
      },
    );
    const deadline = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${answerWithinMs} ms to the ${sent} bytes sent of the ${declared} declared`));
    }, answerWithinMs);
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    let i = 0;
    const next = () => {
      if (i === pieces.length) return sent === declared ? req.end() : undefined;
      req.write(pieces[i++], next);
    };
    next();
  });
}
