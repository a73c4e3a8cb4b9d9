import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
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

/** The first port of the kernel's ephemeral range, which it gives to outgoing connections and to `listen(0)`. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 20_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
const EPHEMERAL_LOW = ephemeralLow();
/** Ports freePort picks from: below the ephemeral range, and so is the port 10,000 above (a Redis Cluster node's bus port). */
const FIRST_PORT = 10_000;
const PAST_LAST_PORT = EPHEMERAL_LOW - 10_000;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1, for a server that must be told its port (redis-server refuses
 * `--port 0`) or that a test stops and starts again on the same port. It is picked at random
 * below the kernel's ephemeral range: a port from that range (what `listen(0)` gives) could be
 * taken between the check and the server's bind, or while the server was down, by any process's
 * outgoing connection, which the kernel gives a local port from the same range, and a Collector
 * or Prometheus started again on its port then failed now and then. Another process could still
 * take it first; `startRedis` and the onFreePort helpers retry then.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (PAST_LAST_PORT - FIRST_PORT));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${FIRST_PORT} and ${PAST_LAST_PORT}`);
}

function launch(
  port: number,
  extra: string[] = [],
  ready = 'Ready to accept connections',
  config: string[] = [],
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      'redis-server',
      [
        ...config,
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(ready)) resolve(proc);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', reject);
    proc.once('exit', (code) =>
      reject(new Error(`redis-server exited with ${code} before accepting connections:\n${out}`)),
    );
  });
}

/**
 * Starts a process on a port freePort found (`start`), with a new port when that one was taken
 * before the process bound it (another test's socket given it as its ephemeral port).
 */
async function onFreePort(
  start: (port: number) => Promise<ChildProcess>,
): Promise<{ port: number; proc: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return { port, proc: await start(port) };
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}

/**
 * Starts a server again on the port it had: another test process's `freePort` may be probing that
 * very port (it binds it for a moment) while the server is down, so a bind refused as in use is
 * tried again for a second.
 */
async function relaunch(start: () => Promise<ChildProcess>): Promise<ChildProcess> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 20 || !String(err).includes('Address already in use')) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

/** Starts a real, empty redis-server bound to 127.0.0.1 on a free port, without persistence; `args` go to it too. */
export async function startRedis(args: string[] = []): Promise<RedisServer> {
  // Its files (the RDB a replica's sync makes) go in a directory of its own, not the working one.
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-'));
  const start = (port: number) => launch(port, ['--dir', dir, ...args]);
  const { port, proc } = await onFreePort(start);
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
      current = await relaunch(() => start(port));
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes `replica` a replica of `master` and resolves once it acknowledges a write (WAIT): the
 * master says it is online before it has loaded the master's copy.
 */
export async function attachReplica(master: RedisServer, replica: RedisServer): Promise<void> {
  const toReplica = new Redis(replica.url);
  const toMaster = new Redis(master.url);
  try {
    await toReplica.replicaof('127.0.0.1', master.port);
    await waitFor(
      async () => {
        await toMaster.set('replica-probe', String(Date.now()));
        return (await toMaster.wait(1, 100)) >= 1;
      },
      'the replica acknowledging',
      30_000,
    );
  } finally {
    toReplica.disconnect();
    toMaster.disconnect();
  }
}

export interface RedisCluster {
  /** `host:port` of every node, as `correlation.state.cluster.nodes` takes them. */
  nodes: string[];
  /** Makes the replica of the master serving `key`'s slot miss every write from now on (see `stallReplication`). */
  stallReplicaOf(key: string): Promise<void>;
  /** Lets every stalled replica run on (SIGCONT): it syncs again with its master. */
  resumeReplicas(): void;
  /** Kills (SIGKILL) the master serving `key`'s slot, lets a stalled replica run on, and resolves once a replica serves the slot instead. Returns the dead node. */
  killMasterOf(key: string): Promise<string>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Replicas per master, each failing over within about a second of its master's death (`cluster-node-timeout` 1s). */
  replicas?: number;
}

const run = promisify(execFile);

/** An ACL user every client (and replica, and sentinel) must log in as. */
export interface RedisAcl {
  username: string;
  password: string;
}

/** One node's reply to a command, through redis-cli. */
async function ask(node: string, args: string[], acl?: RedisAcl): Promise<string> {
  const auth = acl ? ['--user', acl.username, '--pass', acl.password, '--no-auth-warning'] : [];
  const colon = node.lastIndexOf(':');
  return (await run('redis-cli', ['-h', node.slice(0, colon), '-p', node.slice(colon + 1), ...auth, ...args])).stdout;
}

interface ClusterNode {
  id: string;
  node: string;
  /** `master`, `slave`, `fail`, `myself`… */
  flags: string[];
  /** The master's id, for a replica. */
  masterId: string;
  slots: [number, number][];
}

/** The cluster as `node` sees it (CLUSTER NODES). */
async function clusterNodes(node: string): Promise<ClusterNode[]> {
  // Lines: <id> <host:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges>...
  return (await ask(node, ['cluster', 'nodes']))
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length >= 8)
    .map((f) => ({
      id: f[0]!,
      node: f[1]!.split('@')[0]!,
      flags: f[2]!.split(','),
      masterId: f[3]!,
      slots: f
        .slice(8)
        .filter((r) => !r.startsWith('['))
        .map((r) => {
          const [from, to] = r.split('-').map(Number);
          return [from!, to ?? from!] as [number, number];
        }),
    }));
}

/** The live master serving `slot`, as `node` sees it. */
async function masterOfSlot(node: string, slot: number): Promise<ClusterNode | undefined> {
  return (await clusterNodes(node)).find(
    (n) =>
      n.flags.includes('master') &&
      !n.flags.some((f) => f.startsWith('fail')) &&
      n.slots.some(([from, to]) => from <= slot && slot <= to),
  );
}

/**
 * Makes `replica` miss the writes its master takes from now on, as a lagging replica does: it is
 * stopped (SIGSTOP), and a 32 MB value written through the master fills the replication link's
 * socket buffers, so later writes wait in the master's output buffer, which dies with it (the
 * partial value is dropped by the replica). Returns what lets the replica run on. The value goes
 * in 4 MB at a time: written at once, it held a loaded machine's master busy past a cluster's
 * node timeout (1 s), and the other masters took the cluster down until they heard from it again.
 */
async function stallReplication(
  master: string,
  replica: ChildProcess,
  fillerKey: string,
  acl?: RedisAcl,
): Promise<() => void> {
  replica.kill('SIGSTOP');
  await ask(master, ['del', fillerKey], acl);
  for (let i = 0; i < 8; i++)
    await ask(master, ['eval', "redis.call('APPEND', KEYS[1], string.rep('x', 4194304))", '1', fillerKey], acl);
  return () => replica.kill('SIGCONT');
}

/**
 * Starts a real Redis Cluster of `size` masters (and `replicas` replicas each) on free ports, with
 * cluster bus ports of their own (`--cluster-port`), and resolves once every slot is served and
 * every replica is attached.
 */
export async function startRedisCluster(size = 3, opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-cluster-'));
  const replicas = opts.replicas ?? 0;
  const procs = new Map<string, ChildProcess>();
  const nodes: string[] = [];
  const resumes: (() => void)[] = [];
  const serving = async () => {
    const live = nodes.filter((n) => procs.get(n)!.exitCode === null && procs.get(n)!.signalCode === null);
    const infos = await Promise.all(live.map((n) => ask(n, ['cluster', 'info'])));
    return infos.every((i) => i.includes('cluster_state:ok'));
  };
  try {
    for (let i = 0; i < size * (1 + replicas); i++) {
      // The bus port too may be taken before redis binds it: both are chosen anew then.
      const { port, proc } = await onFreePort(async (p) =>
        launch(p, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(await freePort()),
          '--cluster-node-timeout',
          '1000',
          '--cluster-config-file',
          join(dir, `nodes-${p}.conf`),
          '--dir',
          dir,
        ]),
      );
      nodes.push(`127.0.0.1:${port}`);
      procs.set(nodes.at(-1)!, proc);
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes']);
    await waitFor(serving, 'the cluster to serve every slot');
    // A replica that has not finished its first sync cannot take over: wait until each has.
    await waitFor(
      async () =>
        (await ask(nodes[0]!, ['cluster', 'nodes']))
          .split('\n')
          .filter((l) => l.includes('slave') && l.includes(' connected')).length ===
        size * replicas,
      'every replica to attach',
    );
    await waitFor(
      async () =>
        (await Promise.all(nodes.map((n) => ask(n, ['info', 'replication'])))).every(
          (i) => !i.includes('role:slave') || i.includes('master_link_status:up'),
        ),
      'every replica to sync',
    );
  } catch (err) {
    for (const p of procs.values()) p.kill('SIGKILL');
    throw err;
  }
  return {
    nodes,
    async stallReplicaOf(key) {
      const slot = Number(await ask(nodes[0]!, ['cluster', 'keyslot', key]));
      const master = await masterOfSlot(nodes[0]!, slot);
      const replica = (await clusterNodes(nodes[0]!)).find((n) => n.masterId === master?.id);
      if (!master || !replica) throw new Error(`no master with a replica serves slot ${slot}`);
      // A key of the same slot (the hash tag is what counts) that no agent reads.
      const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
      resumes.push(await stallReplication(master.node, procs.get(replica.node)!, `filler{${tag}}`));
    },
    resumeReplicas() {
      for (const resume of resumes.splice(0)) resume();
    },
    async killMasterOf(key) {
      const slot = Number(await ask(nodes[0]!, ['cluster', 'keyslot', key]));
      const dead = (await masterOfSlot(nodes[0]!, slot))?.node;
      if (!dead) throw new Error(`no master serves slot ${slot}`);
      const proc = procs.get(dead)!;
      proc.kill('SIGKILL');
      await exited(proc);
      for (const resume of resumes.splice(0)) resume();
      const survivor = nodes.find((n) => n !== dead)!;
      await waitFor(
        async () => (await masterOfSlot(survivor, slot)) !== undefined && (await serving()),
        "a replica to take over the dead master's slots",
        30_000,
      );
      return dead;
    },
    async stop() {
      await Promise.all(
        [...procs.values()].map((p) => {
          p.kill('SIGKILL');
          return exited(p);
        }),
      );
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
  const { port, proc } = await onFreePort((p) => launch(p, ['--sentinel', '--dir', dir], '+monitor master', [file]));
  return {
    node: `127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export interface RedisSentinelGroup {
  /** The monitored master's name, as `correlation.state.sentinel.name` takes it. */
  name: string;
  /** `host:port` of every sentinel, as `correlation.state.sentinel.nodes` takes them. */
  sentinels: string[];
  /** Makes the replica miss every write from now on (see `stallReplication`). */
  stallReplica(): Promise<void>;
  /** Lets a stalled replica run on (SIGCONT): it syncs again with its master. */
  resumeReplica(): void;
  /** Kills (SIGKILL) the master, lets a stalled replica run on, and resolves with the replica's `host:port` once the sentinels have promoted it and it takes writes. */
  killMaster(): Promise<string>;
  stop(): Promise<void>;
}

/** Server arguments that turn the default user off and let only `acl` in, replicas included. */
const aclArgs = (acl: RedisAcl) => [
  '--user',
  'default',
  'off',
  '--user',
  acl.username,
  'on',
  `>${acl.password}`,
  '~*',
  '&*',
  '+@all',
  '--masteruser',
  acl.username,
  '--masterauth',
  acl.password,
];

/** Field `name` of a flat key/value reply printed by redis-cli (one item a line). */
function field(reply: string, name: string): string | undefined {
  const lines = reply.split('\n');
  const at = lines.indexOf(name);
  return at === -1 ? undefined : lines[at + 1];
}

/**
 * Starts a master and one replica, both requiring the ACL user `acl`, watched by three sentinels
 * (quorum 2) that call the master down after 1s and fail over to the replica. Resolves once every
 * sentinel knows the replica and the other sentinels: before that, a failover cannot happen.
 */
export async function startRedisSentinels(name: string, acl: RedisAcl): Promise<RedisSentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-sentinels-'));
  const data = new Map<string, ChildProcess>();
  const sentinels: ChildProcess[] = [];
  const nodes: string[] = [];
  const stop = async () => {
    await Promise.all(
      [...data.values(), ...sentinels].map((p) => {
        p.kill('SIGKILL');
        return exited(p);
      }),
    );
  };
  try {
    // A replica keeps the RDB of its first sync in its --dir: not the working directory.
    const master = await onFreePort((p) => launch(p, [...aclArgs(acl), '--dir', dir]));
    const masterPort = master.port;
    data.set(`127.0.0.1:${masterPort}`, master.proc);
    const replica = await onFreePort((p) =>
      launch(p, [
        ...aclArgs(acl),
        '--dir',
        dir,
        '--dbfilename',
        'replica.rdb',
        '--replicaof',
        '127.0.0.1',
        String(masterPort),
      ]),
    );
    const replicaPort = replica.port;
    data.set(`127.0.0.1:${replicaPort}`, replica.proc);
    await waitFor(
      async () =>
        (await ask(`127.0.0.1:${replicaPort}`, ['info', 'replication'], acl)).includes('master_link_status:up'),
      'the replica to sync',
    );
    for (let i = 0; i < 3; i++) {
      const file = join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its config file, so each needs one of its own.
      writeFileSync(
        file,
        [
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel auth-user ${name} ${acl.username}`,
          `sentinel auth-pass ${name} ${acl.password}`,
          '',
        ].join('\n'),
      );
      const sentinel = await onFreePort((p) => launch(p, ['--sentinel', '--dir', dir], '+monitor master', [file]));
      sentinels.push(sentinel.proc);
      nodes.push(`127.0.0.1:${sentinel.port}`);
    }
    await waitFor(
      async () => {
        const views = await Promise.all(nodes.map((n) => ask(n, ['sentinel', 'master', name])));
        return views.every((v) => field(v, 'num-other-sentinels') === '2' && field(v, 'num-slaves') === '1');
      },
      'the sentinels to know each other and the replica',
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const resumes: (() => void)[] = [];
  const masterOf = async (sentinel: string) =>
    (await ask(sentinel, ['sentinel', 'get-master-addr-by-name', name])).trim().split('\n').join(':');
  return {
    name,
    sentinels: nodes,
    async stallReplica() {
      const master = await masterOf(nodes[0]!);
      const [replica] = [...data].filter(([n]) => n !== master);
      resumes.push(await stallReplication(master, replica![1], 'vigil-test-filler', acl));
    },
    resumeReplica() {
      for (const resume of resumes.splice(0)) resume();
    },
    async killMaster() {
      const dead = await masterOf(nodes[0]!);
      const proc = data.get(dead)!;
      proc.kill('SIGKILL');
      await exited(proc);
      for (const resume of resumes.splice(0)) resume();
      let promoted = dead;
      await waitFor(
        async () => {
          const named = [...new Set(await Promise.all(nodes.map(masterOf)))];
          promoted = named[0]!;
          return (
            named.length === 1 &&
            promoted !== dead &&
            (await ask(promoted, ['info', 'replication'], acl)).includes('role:master')
          );
        },
        'the sentinels to promote the replica',
        30_000,
      );
      return promoted;
    },
    stop,
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
  const f = (name: string) => join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=vigil-test-ca',
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '1',
    '-extfile',
    f('ext'),
  ]);
  // --port 0 turns plain TCP off: only TLS is served.
  const { port, proc } = await onFreePort((p) =>
    launch(0, [
      '--tls-port',
      String(p),
      '--tls-cert-file',
      f('server.crt'),
      '--tls-key-file',
      f('server.key'),
      '--tls-ca-cert-file',
      f('ca.crt'),
      '--tls-auth-clients',
      'no',
      '--user',
      'vigil',
      'on',
      '>s3cret',
      '~*',
      '&*',
      '+@all',
    ]),
  );
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
