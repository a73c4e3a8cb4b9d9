import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import snmp from 'net-snmp';

/** Modules net-snmp's ModuleStore loads before any file (its "base" modules). */
const BUILT_IN = [
  'RFC1155-SMI',
  'RFC1158-MIB',
  'RFC-1212',
  'RFC1213-MIB',
  'RFC-1215',
  'SNMPv2-SMI',
  'SNMPv2-CONF',
  'SNMPv2-TC',
  'SNMPv2-MIB',
];

/** Most OIDs whose names are remembered; traps repeat a handful of varbind OIDs. */
const MAX_CACHED = 10_000;

interface MibFile {
  path: string;
  defines: string[];
  imports: string[];
}

type Modules = Record<
  string,
  Record<string, { OID?: string; ObjectName?: string; MACRO?: string; ENTERPRISE?: unknown; VALUE?: unknown }>
>;

/** The MIB parser inside net-snmp's ModuleStore (`store.parser`), driven here file by file. */
interface MibParser {
  Import(path: string): void;
  Serialize(): void;
  Modules: Modules;
  SymbolBuffer: Record<string, unknown>;
  CharBuffer: { Table: Record<string, unknown>; ModuleName: Record<string, string> };
}

export interface MibLoadResult {
  names: OidNames;
  loaded: string[];
  /** Files not loaded, with why: an import no file defines, or the parser's error. */
  skipped: { file: string; reason: string }[];
}

/** Reads a MIB file's module names and the modules it imports, without parsing it. */
function scan(path: string): MibFile {
  const text = readFileSync(path, 'latin1').replace(/--.*$/gm, '');
  const defines = [...text.matchAll(/([A-Za-z][\w-]*)\s+DEFINITIONS\s*(?:[A-Z\s]*)::=\s*BEGIN/g)].map((m) => m[1]!);
  const imports = new Set<string>();
  for (const section of text.matchAll(/\bIMPORTS\b([\s\S]*?);/g)) {
    for (const m of section[1]!.matchAll(/\bFROM\s+([A-Za-z][\w-]*)/g)) imports.add(m[1]!);
  }
  return { path, defines, imports: [...imports] };
}

function quietly<T>(fn: () => T): T {
  const { log, warn } = console;
  console.log = () => {};
  console.warn = () => {};
  try {
    return fn();
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

/**
 * net-snmp's MIB parser keeps every file it was given and re-resolves all of them on each
 * Serialize: its ModuleStore.loadFromFile, one Serialize per file, takes quadratic time (300
 * small files: minutes). A file it fails on stays in its tables and fails every later
 * Serialize; and it prints its complaints to stdout. So files are given in rounds, in the order
 * their IMPORTS need, with one Serialize per round; a file it rejects is taken out of its tables
 * again (it keys them by file name without extension, as Import does).
 */
class MibLoader {
  readonly parser: MibParser;

  constructor() {
    this.parser = (snmp.createModuleStore() as { parser: MibParser }).parser;
  }

  forget(f: MibFile): void {
    const key = basename(f.path, extname(f.path));
    const { CharBuffer, SymbolBuffer, Modules } = this.parser;
    const module = CharBuffer.ModuleName[key];
    delete CharBuffer.Table[key];
    delete CharBuffer.ModuleName[key];
    for (const m of module ? [module, ...f.defines] : f.defines) {
      delete SymbolBuffer[m];
      delete Modules[m];
    }
  }

  /** Imports then resolves `files`; returns those the parser rejected, with why, having forgotten them. */
  load(files: MibFile[]): { file: MibFile; reason: string }[] {
    const failed: { file: MibFile; reason: string }[] = [];
    const imported = files.filter((f) => {
      try {
        this.parser.Import(f.path);
        return true;
      } catch (err) {
        this.forget(f);
        failed.push({ file: f, reason: (err as Error).message });
        return false;
      }
    });
    try {
      this.parser.Serialize();
      return failed;
    } catch {
      // One of them spoils the round: take them all out, then in again one by one.
      for (const f of imported) this.forget(f);
    }
    for (const f of imported) {
      try {
        this.parser.Import(f.path);
        this.parser.Serialize();
      } catch (err) {
        this.forget(f);
        failed.push({ file: f, reason: (err as Error).message });
      }
    }
    return failed;
  }
}

/** Loads every MIB file in `dir` (not recursing) that its imports allow. */
export function loadMibDir(dir: string): MibLoadResult {
  const files = readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile())
    .sort()
    .map(scan)
    .filter((f) => f.defines.length > 0);
  const skipped: { file: string; reason: string }[] = [];
  const available = new Set(BUILT_IN);
  const loaded: string[] = [];
  const loader = quietly(() => new MibLoader());
  let pending = files;
  for (;;) {
    const ready = pending.filter((f) => f.imports.every((m) => available.has(m) || f.defines.includes(m)));
    if (ready.length === 0) break;
    pending = pending.filter((f) => !ready.includes(f));
    const failed = quietly(() => loader.load(ready));
    for (const { file, reason } of failed) skipped.push({ file: file.path, reason: `parse error: ${reason}` });
    for (const f of ready) {
      if (failed.some((x) => x.file === f)) continue;
      loaded.push(f.path);
      for (const m of f.defines) available.add(m);
    }
  }
  for (const f of pending)
    skipped.push({
      file: f.path,
      reason: `imports ${f.imports.filter((m) => !available.has(m)).join(', ')}, which no loaded file defines`,
    });
  return { names: OidNames.fromModules(loader.parser.Modules), loaded, skipped };
}

/** Numeric OID → `MODULE::name` with the instance suffix kept: `IF-MIB::ifIndex.3`. */
export class OidNames {
  private readonly byOid: Map<string, string>;
  private readonly cache = new Map<string, string | undefined>();

  constructor(byOid: Map<string, string>) {
    this.byOid = byOid;
  }

  static fromModules(modules: Modules): OidNames {
    const byOid = new Map<string, string>();
    // Base modules first, so a loaded module (IF-MIB) names what an older one (RFC1213-MIB) also defines.
    const order = [
      ...BUILT_IN.filter((m) => m in modules),
      ...Object.keys(modules).filter((m) => !BUILT_IN.includes(m)),
    ];
    const oidOf = new Map<string, string>();
    for (const module of order) {
      for (const entry of Object.values(modules[module]!)) {
        if (!entry.OID || !entry.ObjectName) continue;
        byOid.set(entry.OID, `${module}::${entry.ObjectName}`);
        oidOf.set(entry.ObjectName, entry.OID);
      }
    }
    // An SMIv1 TRAP-TYPE has no OID of its own: it is trap VALUE of its ENTERPRISE, which
    // RFC 3584 (section 3.1) identifies as <enterprise>.0.<VALUE>.
    for (const module of order) {
      for (const entry of Object.values(modules[module]!)) {
        if (
          entry.MACRO !== 'TRAP-TYPE' ||
          !entry.ObjectName ||
          typeof entry.ENTERPRISE !== 'string' ||
          entry.VALUE === undefined
        )
          continue;
        const enterprise = modules[module]![entry.ENTERPRISE]?.OID ?? oidOf.get(entry.ENTERPRISE);
        if (enterprise) byOid.set(`${enterprise}.0.${entry.VALUE}`, `${module}::${entry.ObjectName}`);
      }
    }
    return new OidNames(byOid);
  }

  /** The name of the longest known prefix of `oid`, with the rest as a suffix; undefined when none is known. */
  name(oid: string): string | undefined {
    if (this.cache.has(oid)) return this.cache.get(oid);
    let name: string | undefined;
    for (let end = oid.length; end > 0; end = oid.lastIndexOf('.', end - 1)) {
      const known = this.byOid.get(end === oid.length ? oid : oid.slice(0, end));
      if (known !== undefined) {
        name = known + oid.slice(end);
        break;
      }
    }
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(oid, name);
    return name;
  }
}
