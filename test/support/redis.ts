import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './waitFor.ts';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: an outage, not a shutdown). Its data is gone: it keeps none on disk. */
  kill(): Promise<void>;
  /** Starts a fresh, empty server on the same port, as after a crash with persistence off. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A free TCP port on 127.0.0.1: redis-server refuses `--port 0`, so the port is found by binding
 * a socket first. Another process could take it before redis binds it; `startRedis` retries then.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function launch(port: number, extra: string[] = [], ready = 'Ready to accept connections', config: string[] = []): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn('redis-server', [...config, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(ready)) resolve(proc);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before accepting connections:\n${out}`)));
  });
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** Starts a real, empty redis-server bound to 127.0.0.1 on a free port, without persistence. */
export async function startRedis(): Promise<RedisServer> {
  let proc: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; proc === undefined; attempt++) {
    port = await freePort();
    try {
      proc = await launch(port);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  let current: ChildProcess | undefined = proc;
  const kill = async () => {
    if (!current) return;
    const p = current;
    current = undefined;
    p.kill('SIGKILL');
    await exited(p);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    async restart() {
      await kill();
      current = await launch(port);
    },
    stop: kill,
  };
}

export interface RedisCluster {
  /** `host:port` of every node, as `correlation.state.cluster.nodes` takes them. */
  nodes: string[];
  stop(): Promise<void>;
}

/**
 * Starts a real Redis Cluster of `size` masters (no replicas) on free ports, with cluster bus
 * ports of their own (`--cluster-port`), and resolves once every slot is served.
 */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-cluster-'));
  const procs: ChildProcess[] = [];
  const nodes: string[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const [port, bus] = [await freePort(), await freePort()];
      procs.push(await launch(port, ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir]));
      nodes.push(`127.0.0.1:${port}`);
    }
    const run = promisify(execFile);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes']);
    await waitFor(async () => {
      const infos = await Promise.all(nodes.map((n) => run('redis-cli', ['-h', '127.0.0.1', '-p', n.split(':')[1]!, 'cluster', 'info'])));
      return infos.every((i) => i.stdout.includes('cluster_state:ok'));
    }, 'the cluster to serve every slot');
  } catch (err) {
    for (const p of procs) p.kill('SIGKILL');
    throw err;
  }
  return {
    nodes,
    async stop() {
      await Promise.all(procs.map((p) => {
        p.kill('SIGKILL');
        return exited(p);
      }));
    },
  };
}

export interface RedisSentinel {
  /** `host:port` of the sentinel, as `correlation.state.sentinel.nodes` takes it. */
  node: string;
  stop(): Promise<void>;
}

/** Starts a Redis Sentinel (on a free port) that monitors `master` under the name `name`. */
export async function startRedisSentinel(master: RedisServer, name: string): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-sentinel-'));
  const file = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file, so it needs one of its own.
  writeFileSync(file, `sentinel monitor ${name} 127.0.0.1 ${master.port} 1\n`);
  const port = await freePort();
  const proc = await launch(port, ['--sentinel', '--dir', dir], '+monitor master', [file]);
  return {
    node: `127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export interface RedisTlsServer {
  url: string;
  /** PEM file of the CA that signed the server certificate. */
  caFile: string;
  stop(): Promise<void>;
}

/**
 * Starts a redis-server that speaks only TLS (a throwaway CA and a certificate for 127.0.0.1,
 * made with openssl) and requires the ACL user `vigil` with password `s3cret`.
 */
export async function startRedisTls(): Promise<RedisTlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-tls-'));
  const run = promisify(execFile);
  const f = (name: string) => join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=vigil-test-ca']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '1', '-extfile', f('ext')]);
  const port = await freePort();
  // --port 0 turns plain TCP off: only TLS is served.
  const proc = await launch(0, ['--tls-port', String(port), '--tls-cert-file', f('server.crt'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', 'no', '--user', 'vigil', 'on', '>s3cret', '~*', '&*', '+@all']);
  return {
    url: `rediss://127.0.0.1:${port}`,
    caFile: f('ca.crt'),
    async stop() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export { waitFor };
