import { describe, expect, it } from 'vitest';
import { PARAM, Rfc5424Fields } from '../../../src/receivers/syslog/rfc5424Bytes.ts';
import { parseRfc5424 } from '../../../src/receivers/syslog/rfc5424Parser.ts';
import { readEnd, readRfc3339, readRfc3339Bytes, wall } from '../../../src/receivers/syslog/timestamps.ts';

/** Deterministic PRNG so a failing case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PRI = ['<13>', '<0>', '<191>', '<192>', '<01>', '<1234>', '<>', '13>', '<x>'];
const VERSION = ['1 ', '1 ', '1 ', '2 ', '1', '1  '];
const TIME = [
  '- ',
  '2026-12-04T12:00:00.123456Z ',
  '2003-08-24T05:14:15.000003-07:00 ',
  '2003-10-11T22:14:15.003+0200 ',
  '2026-13-04T12:00:00Z ',
  '2026-12-04 12:00:00Z ',
  '2026-12-04T12:00:00 ',
  '-',
  '2026-12-04T12:00:00Zjunk ',
];
const WORD = ['-', 'web-7', 'billing', '4242', 'ID47', 'a"b', 'ü.example', 'a\\b', '', 'x\ty'];
const SD = [
  '-',
  '[a@1 k="v"]',
  '[a@1 k="v" j="w"][b@2]',
  '[a@1 k="1"][a@1 k="2"]',
  '[a@1 k="1" k="2"]',
  '[q@1 v="in \\"quotes\\" \\] end"]',
  '[0 x="one"]',
  '[a 1="one"]',
  '[d.o.t k="1"]',
  '[a k=v]',
  '[a k="v"',
  '[a k="v"]x',
  '[]',
  '[a ]',
  '[a k="ü"]',
  '[a k="tab\there"]',
  '[__proto__ x="1"][constructor keys="2"]',
  '[a k="v"][b x="" y="=]["]',
  '[a k==""]',
  '[a k="C:\\temp" j="x\\\\y"]',
];
const MESSAGE = [
  '',
  ' ',
  ' plain text',
  ' say "hi"',
  ' \ufeffBOM first',
  ' ü✓🐢',
  ' tab\there',
  '  two spaces',
  ' - dash',
];

function line(r: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const words = [pick(WORD), pick(WORD), pick(WORD), pick(WORD)];
  // Most lines well formed, the rest with one part from anywhere.
  const plain = r() < 0.5;
  return (
    (plain ? '<134>' : pick(PRI)) +
    (plain ? '1 ' : pick(VERSION)) +
    (plain ? TIME[1]! : pick(TIME)) +
    (plain ? 'web-7 billing 4242 ID47' : words.join(r() < 0.9 ? ' ' : '  ')) +
    (r() < 0.15 ? '' : ' ' + pick(SD)) +
    pick(MESSAGE)
  );
}

const text = (b: Buffer, from: number, to: number) => b.toString('latin1', from, to);

/** What the reader found, in the parser's terms: header fields, structured data as [id, name, value] in order, message. */
function scanned(f: Rfc5424Fields, b: Buffer, to: number) {
  const sd: [string, string, string | true][] = [];
  for (let k = 0; k < f.params * PARAM; k += PARAM) {
    const id = text(b, f.sd[k]!, f.sd[k + 1]!);
    if (f.sd[k + 2]! < 0) sd.push([id, '', true]);
    else sd.push([id, text(b, f.sd[k + 2]!, f.sd[k + 3]!), text(b, f.sd[k + 4]!, f.sd[k + 5]!)]);
  }
  return {
    priority: f.priority,
    timeNs: f.timeNs,
    hostname: text(b, f.hostFrom, f.hostTo),
    appname: text(b, f.appFrom, f.appTo),
    procId: text(b, f.procFrom, f.procTo),
    msgId: text(b, f.msgIdFrom, f.msgIdTo),
    sd: f.hasSd ? sd : undefined,
    message: b.toString('utf8', f.messageFrom, to),
  };
}

function parsed(l: string) {
  const m = parseRfc5424(l);
  if (typeof m === 'string') return m;
  const sd: [string, string, string | true][] = [];
  for (const id in m.structuredData) {
    const params = m.structuredData[id]!;
    let empty = true;
    for (const name in params) {
      sd.push([id, name, params[name]!]);
      empty = false;
    }
    if (empty) sd.push([id, '', true]);
  }
  return {
    priority: m.priority,
    timeNs: m.timeNs,
    hostname: m.hostname,
    appname: m.appname,
    procId: m.procId,
    msgId: m.msgId,
    sd: m.structuredData === undefined ? undefined : sd,
    message: m.message,
  };
}

describe('RFC 5424 read from its bytes', () => {
  it('reads what the parser reads in every line it takes, and takes the plain ones', () => {
    const r = rng(5424);
    const f = new Rfc5424Fields();
    let taken = 0;
    for (let n = 0; n < 5000; n++) {
      const l = line(r);
      const b = Buffer.from(l);
      if (!f.scan(b, 0, b.length)) continue;
      taken++;
      const want = parsed(l);
      // A BOM before MSG is the parser's to strip; the line writer does not take non-ASCII MSGs.
      const got = scanned(f, b, b.length);
      if (got.message.startsWith('\ufeff')) got.message = got.message.slice(1);
      expect(got, l).toEqual(want);
    }
    expect(taken).toBeGreaterThan(800);
  });

  it('leaves to the parser SD-IDs and names an object would reorder, twice-given ones, dotted SD-IDs and escapes, and takes many parameters', () => {
    const f = new Rfc5424Fields();
    for (const sd of [
      '[0 x="1"]',
      '[a 1="x"]',
      '[a@1 k="1"][a@1 j="2"]',
      '[a k="1" k="2"]',
      '[d.o.t k="1"]',
      '[a k="\\"q\\""]',
    ]) {
      const b = Buffer.from(`<13>1 - h a - - ${sd} m`);
      expect(f.scan(b, 0, b.length), sd).toBe(false);
    }
    const ok = Buffer.from('<13>1 - h a - - [a k="1" j="2"][b] m');
    expect(f.scan(ok, 0, ok.length)).toBe(true);
    // More parameters than the reader first has room for.
    const many = `<13>1 - h a - - [a ${Array.from({ length: 30 }, (_, k) => `p${k}="v${k}"`).join(' ')}][b][c x="y"] m`;
    const b = Buffer.from(many);
    expect(f.scan(b, 0, b.length)).toBe(true);
    expect(scanned(f, b, b.length)).toEqual(parsed(many));
  });

  it('reads nothing past the end it is given', () => {
    const r = rng(7);
    const f = new Rfc5424Fields();
    const g = new Rfc5424Fields();
    for (let n = 0; n < 300; n++) {
      const l = Buffer.from(line(r));
      for (let cut = 0; cut <= l.length; cut++) {
        // The same bytes alone, and followed by each byte that would continue them.
        const alone = Buffer.from(l.subarray(0, cut));
        const a = f.scan(alone, 0, cut);
        for (const more of [']', '[', ' ', '"', '=', '>', '1', '-', 'x']) {
          const within = Buffer.concat([l.subarray(0, cut), Buffer.from(`${more}1 ["= ] x`)]);
          expect(g.scan(within, 0, cut), `${alone.toString()} + ${more}`).toBe(a);
          if (a) expect(scanned(g, within, cut)).toEqual(scanned(f, alone, cut));
        }
      }
    }
  });

  it('reads a timestamp from its bytes as from its text', () => {
    const r = rng(3339);
    const base = [
      '2026-12-04T12:00:00.123456Z',
      '2003-08-24T05:14:15.000003-07:00',
      '2003-10-11T22:14:15+0200',
      '1985-04-12t23:20:50.52z',
      '2026-12-04T23:59:60,5+14:00',
    ];
    const swaps = '0123456789-:.,+TtZz x';
    let read = 0;
    for (let n = 0; n < 20000; n++) {
      // A timestamp with up to two characters changed, and perhaps cut or grown.
      let t = base[Math.floor(r() * base.length)]!;
      for (let k = Math.floor(r() * 3); k > 0; k--) {
        const at = Math.floor(r() * t.length);
        t = t.slice(0, at) + swaps[Math.floor(r() * swaps.length)] + t.slice(at + 1);
      }
      if (r() < 0.2) t = t.slice(0, Math.floor(r() * t.length));
      if (r() < 0.1) t += '9';
      const b = Buffer.from(`${t} after`);
      const fromText = readRfc3339(t, 0, false);
      const textOk = fromText !== -1e9 && readEnd === t.length;
      const wallText = { ...wall };
      const fromBytes = readRfc3339Bytes(b, 0, t.length);
      expect(fromBytes !== -1e9, t).toBe(textOk);
      if (!textOk) continue;
      read++;
      expect(fromBytes, t).toBe(fromText);
      expect({ ...wall }, t).toEqual(wallText);
    }
    expect(read).toBeGreaterThan(4000);
  });
});
