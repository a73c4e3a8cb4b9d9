import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../../cmd/vigil.ts');
const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-stream-'));
const config = join(dir, 'vigil.yaml');
writeFileSync(
  config,
  `
receivers:
  json: { endpoint: 127.0.0.1:0 }
processors:
  tag:
    rules:
      - { where: 'attributes["state"] == "down"', type: down }
      - { where: 'attributes["state"] == "up"', type: up }
exporters:
  correlation: {}
correlation:
  rules:
    - { kind: pair, name: link, group_by: [asset] }
    - { kind: threshold, name: errors, match: 'severity_number >= SEVERITY_NUMBER_ERROR', group_by: [service], window: 1m, threshold: 2 }
service:
  pipelines:
    logs: { receivers: [json], processors: [tag], exporters: [correlation] }
`,
);

/**
 * `n` events a second apart over 40 assets and 10 services, most of them chatter the rules pass
 * over: every 50th reports a link going down or up, and every 1000 s brings a burst of errors.
 */
async function writeEvents(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  const start = Date.parse('2026-12-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const e = {
      time: new Date(start + i * 1000).toISOString(),
      asset: `sw-${i % 40}`,
      service: `svc-${i % 10}`,
      level: i % 1000 < 20 ? 'error' : 'info',
      message: `interface Gi0/${i % 48} changed state, request ${i} took ${i % 997} ms`,
      attributes: { request: `r-${i}`, ...(i % 50 === 0 ? { state: Math.floor(i / 2000) % 2 ? 'up' : 'down' } : {}) },
    };
    if (!out.write(JSON.stringify(e) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Runs `vigil rules test` on `events`; the peak RSS (VmHWM) is read from /proc/self/status as the child exits. */
async function peakRss(events: string): Promise<{ kb: number; code: number | null; lines: number; stderr: string }> {
  const report = join(dir, `hwm-${Math.random().toString(36).slice(2)}`);
  const preload = `data:text/javascript,${encodeURIComponent(
    `import { readFileSync, writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(process.env.HWM_REPORT, /VmHWM:\\s*(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]));`,
  )}`;
  const child = spawn(
    process.execPath,
    ['--import', preload, CLI, 'rules', 'test', '--config', config, '--events', events, '--format', 'json'],
    { env: { ...process.env, HWM_REPORT: report }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let lines = 0;
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    for (const b of d) if (b === 10) lines++;
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { kb: Number(readFileSync(report, 'utf8')), code, lines, stderr };
}

describe('vigil rules test on a large file', () => {
  it('streams the events: peak memory for 200,000 lines stays near that of 2,000', async () => {
    const small = join(dir, 'small.ndjson');
    const large = join(dir, 'large.ndjson');
    await writeEvents(small, 2_000);
    await writeEvents(large, 200_000);
    const s = await peakRss(small);
    const l = await peakRss(large);
    expect(s.code).toBe(0);
    expect(l.code).toBe(0);
    expect(l.stderr).toBe('');
    // The incident changes of the whole file came out: a hundred times the file, about a hundred times the changes.
    expect(l.lines).toBeGreaterThan(s.lines * 50);
    // The file is ~40 MB; read whole and parsed, it took several hundred MB more than a small one.
    expect(statSync(large).size).toBeGreaterThan(35_000_000);
    expect(l.kb - s.kb).toBeLessThan(256 * 1024);
  }, 300_000);

  it('draws a progress bar on stderr when it is a terminal, and nothing when it is not', () => {
    const events = join(dir, 'progress.ndjson');
    writeFileSync(
      events,
      Array.from({ length: 3000 }, (_, i) =>
        JSON.stringify({ time: new Date(Date.parse('2026-12-01T00:00:00Z') + i * 1000).toISOString(), asset: 'a' }),
      ).join('\n'),
    );
    // script(1) gives the command a terminal; its stdout goes to a file, so only stderr is the terminal.
    const out = join(dir, 'progress.out');
    const tty = spawnSync(
      'script',
      [
        '-qec',
        `"${process.execPath}" "${CLI}" rules test --config "${config}" --events "${events}" --format json > "${out}"`,
        '/dev/null',
      ],
      { encoding: 'utf8' },
    );
    expect(tty.status).toBe(0);
    // The final state of the bar: every byte read, the rate, and the line cleared at the end.
    expect(tty.stdout).toMatch(/3,000 events .*100%.* events\/s/);
    expect(tty.stdout).toContain('\r\x1b[2K');
    const piped = spawnSync(
      process.execPath,
      [CLI, 'rules', 'test', '--config', config, '--events', events, '--format', 'json'],
      {
        encoding: 'utf8',
      },
    );
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
  });
});
