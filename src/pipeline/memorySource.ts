import { openSync, readFileSync, readSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/** A cgroup's memory as the kernel accounts it; `limit` is absent when the cgroup has none. */
export interface CgroupMemory {
  limit?: number;
  /** Usage less the inactive file cache: what the kernel cannot reclaim at once (a kubelet's "working set"). */
  workingSet: number;
}

export interface HeapMemory {
  used: number;
  limit: number;
  /** Memory outside the heap that V8 objects hold (Buffers, ArrayBuffers), freed when they are collected. */
  external?: number;
}

/** Where the memory limiter reads memory; tests pass a fake one. */
export interface MemorySource {
  /**
   * Resident memory of this process that the kernel cannot drop and read back from disk
   * (anonymous and shared-memory pages: heap, Buffers, native allocations). Cheap enough to
   * call while requests arrive.
   */
  resident(): number;
  /** V8's heap: bytes in use and the size V8 aborts at. */
  heap(): HeapMemory;
  /** The enclosing cgroup, or undefined outside one; read on the periodic check only. */
  cgroup(): CgroupMemory | undefined;
  /** Physical memory of the machine, for `limit_percentage` outside a cgroup with a limit. */
  totalMemory(): number;
}

/** Reads a text file, or undefined if it is not there: lets tests lay out a fake /proc and /sys. */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

// cgroup v1 says "no limit" with the largest page-aligned signed 64-bit value.
const NO_LIMIT_ABOVE = 2 ** 62;

function statField(stat: string | undefined, name: string): number {
  if (stat === undefined) return 0;
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : 0;
}

/**
 * The cgroup this process runs in, v2 first (`memory.max`, `memory.current`), then v1
 * (`memory.limit_in_bytes`, `memory.usage_in_bytes`). The path from /proc/self/cgroup is
 * tried under the mount, then the mount itself: inside a cgroup namespace (a container) the
 * process's own cgroup is mounted at the root and /proc/self/cgroup says `/`.
 */
export function readCgroupMemory(read: ReadText = readText, root = '/sys/fs/cgroup'): CgroupMemory | undefined {
  const self = read('/proc/self/cgroup') ?? '';
  const v2Path = /^0::(\/.*)$/m.exec(self)?.[1];
  const v1Path = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(\/.*)$/m.exec(self)?.[1];
  const dirs = (mount: string, path: string | undefined) =>
    path && path !== '/' ? [`${mount}${path}`, mount] : [mount];
  for (const dir of dirs(root, v2Path)) {
    const current = read(`${dir}/memory.current`);
    if (current === undefined) continue;
    const max = read(`${dir}/memory.max`)?.trim();
    const usage = Number(current.trim());
    const workingSet = Math.max(0, usage - statField(read(`${dir}/memory.stat`), 'inactive_file'));
    return max === undefined || max === 'max' ? { workingSet } : { limit: Number(max), workingSet };
  }
  for (const dir of dirs(`${root}/memory`, v1Path)) {
    const usageText = read(`${dir}/memory.usage_in_bytes`);
    if (usageText === undefined) continue;
    const limit = Number(read(`${dir}/memory.limit_in_bytes`)?.trim() ?? NaN);
    const usage = Number(usageText.trim());
    const workingSet = Math.max(0, usage - statField(read(`${dir}/memory.stat`), 'total_inactive_file'));
    return Number.isFinite(limit) && limit < NO_LIMIT_ABOVE ? { limit, workingSet } : { workingSet };
  }
  return undefined;
}

/**
 * This process as the kernel sees it. Resident memory is the resident pages less the shared
 * ones (/proc/self/statm), that is the anonymous pages, rather than the whole RSS: file-backed
 * pages (the code of Node and of embedded ClickHouse's 200+ MiB library) are clean and
 * reclaimable, so counting them would put an idle daemon with embedded ClickHouse over a
 * 256 MiB ceiling before any data arrived. The file stays open and is read with pread
 * (about 4 µs, against 80 µs for /proc/self/status), which also keeps it readable when a flood
 * of connections has filled the descriptor table. Off Linux, the whole RSS.
 */
export function processMemorySource(read: ReadText = readText): MemorySource {
  return {
    resident: residentBytes,
    heap() {
      const h = getHeapStatistics();
      return { used: h.used_heap_size, limit: h.heap_size_limit, external: h.external_memory };
    },
    cgroup: () => readCgroupMemory(read),
    totalMemory: () => totalmem(),
  };
}

// One descriptor for the process, however many services it runs (tests run many).
let statm: { fd: number; pageSize: number } | null | undefined;
const statmBuf = Buffer.alloc(256);

function readStatm(fd: number): [resident: number, shared: number] {
  const n = readSync(fd, statmBuf, 0, statmBuf.length, 0);
  const fields = statmBuf.toString('latin1', 0, n).split(' ');
  return [Number(fields[1]), Number(fields[2])];
}

function residentBytes(): number {
  if (statm === undefined) {
    try {
      const fd = openSync('/proc/self/statm', 'r');
      // statm counts pages; Node does not tell the page size, the RSS in bytes does.
      const pages = readStatm(fd)[0];
      statm = { fd, pageSize: 2 ** Math.round(Math.log2(process.memoryUsage.rss() / pages)) };
    } catch {
      statm = null;
    }
  }
  if (statm === null) return process.memoryUsage.rss();
  const [resident, shared] = readStatm(statm.fd);
  return (resident - shared) * statm.pageSize;
}
