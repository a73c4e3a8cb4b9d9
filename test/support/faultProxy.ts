import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { closeTogether, listenOnFreePort } from './tcpProxy.ts';

/**
 * A TCP relay on 127.0.0.1 in front of one server that injects the network faults a client
 * must survive, one connection at a time, as a load balancer or a flaky link would:
 * - `resetAfterRequestBytes(n)`: the next connection is reset (both sides) once `n` bytes of
 *   the client's request have gone through: a reset in the middle of an upload;
 * - `resetAfterResponseBytes(n)`: the next connection is reset once `n` bytes of the server's
 *   answer have reached the client, after the server has done the work;
 * - `stall(on)`: nothing is relayed either way while on (the bytes wait, nothing is lost);
 * - `drip(ms)`: the server's answers reach the client one byte every `ms`;
 * - `cut(on)`: every connection is reset, and those that come meanwhile at once: the server out of
 *   reach (a network cut), running on.
 */
export interface FaultProxy {
  port: number;
  url: string;
  /** Connections the proxy reset so far. */
  resets: number;
  resetAfterRequestBytes(n: number): void;
  resetAfterResponseBytes(n: number): void;
  stall(on: boolean): void;
  drip(ms: number): void;
  cut(on: boolean): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { port: number }): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let resetRequestAt: number | undefined;
  let resetResponseAt: number | undefined;
  let stalled = false;
  let dripMs = 0;
  let cut = false;
  const waiting: (() => void)[] = [];
  const proxy: FaultProxy = {
    port: 0,
    url: '',
    resets: 0,
    resetAfterRequestBytes: (n) => void (resetRequestAt = n),
    resetAfterResponseBytes: (n) => void (resetResponseAt = n),
    stall(on) {
      stalled = on;
      if (!on) for (const go of waiting.splice(0)) go();
    },
    drip: (ms) => void (dripMs = ms),
    cut(on) {
      cut = on;
      if (on) for (const s of sockets) s.resetAndDestroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const unstalled = () => (stalled ? new Promise<void>((go) => waiting.push(go)) : Promise.resolve());

  /** Relays `from` to `to` in order, chunk by chunk, with the faults that apply to that direction. */
  function relay(from: Socket, to: Socket, direction: 'request' | 'response', reset: () => void) {
    let chain = Promise.resolve();
    let seen = 0;
    let resetAt: number | undefined;
    from.on('data', (chunk: Buffer) => {
      from.pause();
      chain = chain.then(async () => {
        await unstalled();
        if (direction === 'request' && resetRequestAt !== undefined && resetAt === undefined) {
          resetAt = resetRequestAt;
          resetRequestAt = undefined;
        }
        if (direction === 'response' && resetResponseAt !== undefined && resetAt === undefined) {
          resetAt = resetResponseAt;
          resetResponseAt = undefined;
        }
        if (resetAt !== undefined && seen + chunk.length >= resetAt) {
          if (!to.destroyed) to.write(chunk.subarray(0, Math.max(0, resetAt - seen)));
          reset();
          return;
        }
        seen += chunk.length;
        if (direction === 'response' && dripMs > 0)
          for (let i = 0; i < chunk.length && !to.destroyed; i++) {
            to.write(chunk.subarray(i, i + 1));
            await new Promise((r) => setTimeout(r, dripMs));
          }
        else if (!to.destroyed) to.write(chunk);
        if (!from.destroyed) from.resume();
      });
    });
    from.on('end', () => void chain.then(() => to.end()));
  }

  const server: Server = createServer((client) => {
    if (cut) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    track(client);
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    track(upstream);
    const reset = () => {
      proxy.resets++;
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    };
    relay(client, upstream, 'request', reset);
    relay(upstream, client, 'response', reset);
    closeTogether(client, upstream);
  });
  const port = await listenOnFreePort(server);
  proxy.port = port;
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}
