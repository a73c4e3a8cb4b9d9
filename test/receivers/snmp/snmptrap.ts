import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Net-SNMP's tools read snmp.conf from $HOME/.snmp and write engine state under
 * /var/lib/snmp; both are pointed at an empty directory so a test depends on nothing of the
 * machine's, and MIB loading is off (`-m ''`, `-M <empty>`): Debian ships no IETF MIBs.
 */
const home = mkdtempSync(join(tmpdir(), 'vigil-snmptrap-'));
const ENV = { ...process.env, HOME: home, SNMPCONFPATH: home, SNMP_PERSISTENT_DIR: home, MIBS: '', MIBDIRS: home };

export interface ToolResult {
  code: number;
  stderr: string;
}

function run(tool: 'snmptrap' | 'snmpinform', args: string[], timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(tool, ['-m', '', '-M', home, ...args], { env: ENV, timeout: timeoutMs }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

/** `snmptrap ARGS` as a user types it; resolves with its exit code (traps are not acknowledged: 0 means sent). */
export function snmptrap(args: string[]): Promise<ToolResult> {
  return run('snmptrap', args, 15_000);
}

/** `snmpinform ARGS`: exits 0 only once the receiver acknowledged the inform. */
export function snmpinform(args: string[]): Promise<ToolResult> {
  return run('snmpinform', args, 15_000);
}

/**
 * The v3 arguments of a USM user, with the sender's engine ID, authoritative for a trap; for an
 * inform the receiver is, and `engineId: null` lets the tool discover it.
 */
export function v3(
  user: string,
  level: 'authNoPriv' | 'authPriv' | 'noAuthNoPriv',
  auth?: [string, string],
  priv?: [string, string],
  engineId: string | null = '0x80001f8804766967696c',
): string[] {
  const args = ['-v', '3', ...(engineId === null ? [] : ['-e', engineId]), '-u', user, '-l', level];
  if (auth) args.push('-a', auth[0], '-A', auth[1]);
  if (priv) args.push('-x', priv[0], '-X', priv[1]);
  return args;
}
