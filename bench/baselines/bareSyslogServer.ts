/**
 * Baseline for the syslog benchmark: the least work a TCP or UDP syslog server can do — split
 * the stream on LF (or take each datagram) and count. No parsing, mapping, queueing or
 * output: what Vigil costs on top is the ratio. Prints `count N` whenever asked via SIGUSR2
 * and once the expected number has arrived.
 * Usage: node bareSyslogServer.ts tcp|udp EXPECTED
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const transport = process.argv[2];
const expected = Number(process.argv[3]);
let count = 0;
let reported = false;
const report = () => process.stderr.write(`count ${count}\n`);
const check = () => {
  if (!reported && count >= expected) {
    reported = true;
    report();
  }
};
process.on('SIGUSR2', report);

if (transport === 'udp') {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  socket.on('message', () => {
    count++;
    check();
  });
  socket.bind(0, '127.0.0.1', () => process.stderr.write(`listening ${socket.address().port}\n`));
} else {
  const server = createServer((s) => {
    s.on('data', (chunk: Buffer) => {
      let at = chunk.indexOf(10);
      while (at !== -1) {
        count++;
        at = chunk.indexOf(10, at + 1);
      }
      check();
    });
  });
  server.listen(0, '127.0.0.1', () =>
    process.stderr.write(`listening ${(server.address() as { port: number }).port}\n`),
  );
}
