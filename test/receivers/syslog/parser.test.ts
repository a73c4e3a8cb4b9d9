import { describe, expect, it } from 'vitest';
import { SyslogParser } from '../../../src/receivers/syslog/parser.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SAMPLES = [
  '<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [a@1 b="c\\"d"][e@2 f="g"] \uFEFFmsg',
  '<189>123: *Mar  1 00:01:02.345 UTC: %SYS-5-CONFIG_I: Configured from console',
  '<38>Nov 23 09:59:58 web-1 sshd[1234]: Accepted publickey for deploy',
  '<166>Nov 23 2025 23:59:59 asa01 : %ASA-6-302013: Built outbound',
  '<86>2026-11-23T11:00:00.250+01:00 bastion sudo: deploy : TTY=pts/0',
];

describe('protocol detection', () => {
  const fixed = () => Date.parse('2026-11-23T10:00:00Z');

  it('auto sends <PRI>1 lines to RFC 5424 and the rest to RFC 3164', () => {
    const p = new SyslogParser('auto', 'UTC', fixed);
    p.beginBatch();
    expect(p.parse(SAMPLES[0]!)).toMatchObject({ format: 'rfc5424', appname: 'su' });
    expect(p.parse(SAMPLES[2]!)).toMatchObject({ format: 'rfc3164', appname: 'sshd' });
  });

  it('auto reports a broken RFC 5424 line instead of re-reading it as RFC 3164', () => {
    const p = new SyslogParser('auto', 'UTC', fixed);
    expect(p.parse('<13>1 2026-11-23T10:00:00Z h a - - [broken')).toMatch(/RFC 5424 structured data/);
  });

  it('a forced protocol applies to every line', () => {
    const rfc5424 = new SyslogParser('rfc5424', 'UTC', fixed);
    expect(rfc5424.parse(SAMPLES[2]!)).toMatch(/not RFC 5424/);
    const rfc3164 = new SyslogParser('rfc3164', 'UTC', fixed);
    rfc3164.beginBatch();
    expect(rfc3164.parse('<13>1 - h a - - - x')).toMatchObject({ format: 'rfc3164', message: '1 - h a - - - x' });
  });

  it('reads the clock once per batch, for the year of RFC 3164 lines', () => {
    let now = Date.parse('2026-11-23T10:00:00Z');
    const p = new SyslogParser('auto', 'UTC', () => now);
    p.beginBatch();
    now = Date.parse('2030-01-01T00:00:00Z');
    expect(p.parse('<13>Nov 23 10:00:00 h a: x')).toMatchObject({
      timeNs: BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n,
    });
  });
});

describe('parser fuzzing', () => {
  it('never throws on random bytes, mutated real lines or truncations; always a message or a reason', () => {
    const next = rng(7);
    const parsers = [
      new SyslogParser('auto', 'Europe/Paris'),
      new SyslogParser('rfc5424', 'UTC'),
      new SyslogParser('rfc3164', 'UTC'),
    ];
    for (const p of parsers) p.beginBatch();
    const check = (line: string) => {
      for (const p of parsers) {
        const r = p.parse(line);
        if (typeof r === 'string') expect(r.length).toBeGreaterThan(0);
        else {
          expect(r.priority).toBeGreaterThanOrEqual(0);
          expect(r.priority).toBeLessThanOrEqual(191);
          expect(typeof r.message).toBe('string');
          expect(r.timeNs).toBeGreaterThanOrEqual(0n);
        }
      }
    };
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(next() * 120) }, () => Math.floor(next() * 256)));
      check(bytes.toString('utf8'));
      check(`<${Math.floor(next() * 200)}>${bytes.toString('latin1')}`);
    }
    for (const sample of SAMPLES) {
      for (let cut = 0; cut <= sample.length; cut++) check(sample.slice(0, cut));
      for (let i = 0; i < 500; i++) {
        const chars = [...sample];
        const at = Math.floor(next() * chars.length);
        chars[at] = String.fromCharCode(Math.floor(next() * 128));
        if (next() < 0.3) chars.splice(Math.floor(next() * chars.length), 1);
        check(chars.join(''));
      }
    }
  });
});
