/**
 * Baseline for the JSON benchmark: the least work that still does the same job — a bare
 * node:http server that reads the body, parses it and appends one JSON line per record.
 * No validation, mapping, queueing or metrics: what Vigil costs on top is the ratio.
 */
import { createServer } from 'node:http';
import { openSync, writeSync } from 'node:fs';

const fd = openSync(process.argv[2]!, 'a');
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const doc: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const records = Array.isArray(doc) ? doc : [doc];
    let out = '';
    for (const r of records) out += JSON.stringify(r) + '\n';
    writeSync(fd, out);
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"accepted":${records.length},"rejected":[]}`);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stderr.write(`listening ${addr.port}\n`);
});
