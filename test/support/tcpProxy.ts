import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of one server: one agent's own path to a shared Redis, so a
 * test can cut that agent off (a network partition) while the others stay connected, and heal it
 * when the test chooses. While cut, open connections are reset and new ones refused.
 */
export interface TcpProxy {
  port: number;
  url: string;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { port: number }, scheme = 'redis'): Promise<TcpProxy> {
  let open = true;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    closeTogether(client, upstream);
  });
  const port = await listenOnFreePort(server);
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal() {
      open = true;
    },
    close() {
      open = false;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Either side of a relayed connection closing closes the other. */
export function closeTogether(a: Socket, b: Socket): void {
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

/** Listens on a free port of 127.0.0.1 (one the kernel picks as it binds, so none can take it first) and returns it. */
export async function listenOnFreePort(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
