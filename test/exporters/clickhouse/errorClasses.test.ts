import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifyClickHouseCode,
  ClickHouseError,
  isSizeError,
  needsOperator,
} from '../../../src/exporters/clickhouse/backend.ts';
import { Spool } from '../../../src/exporters/clickhouse/spool.ts';
import { isPermanent } from '../../../src/exporters/helper/exportError.ts';

describe('ClickHouse error classes', () => {
  it('sorts the codes by what they say about the batch, as ClickHouse names them', () => {
    const classes = (codes: number[]) => codes.map(classifyClickHouseCode);
    // TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR, ABORTED, TABLE_IS_READ_ONLY, TOO_MANY_PARTS, KEEPER_EXCEPTION
    expect(classes([159, 202, 209, 210, 236, 242, 252, 999])).toEqual(Array(8).fill('transient'));
    // MEMORY_LIMIT_EXCEEDED, CANNOT_ALLOCATE_MEMORY, TOO_MANY_PARTITIONS
    expect(classes([241, 173, 565])).toEqual(Array(3).fill('size'));
    // CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATETIME, TYPE_MISMATCH, INCORRECT_DATA
    expect(classes([6, 27, 41, 53, 117])).toEqual(Array(5).fill('bad_data'));
    // UNKNOWN_TABLE, NO_SUCH_COLUMN_IN_TABLE, READONLY, ACCESS_DENIED, AUTHENTICATION_FAILED
    expect(classes([60, 16, 164, 497, 516])).toEqual(Array(5).fill('operator'));
    expect(classifyClickHouseCode(1002)).toBe('unknown');
  });

  it('sets aside only what the server called bad; everything else is retried, the operator’s errors loudly', () => {
    const verdict = (code: number) => {
      const err = new ClickHouseError(code, `Code: ${code}.`);
      return { permanent: isPermanent(err), loud: needsOperator(err), split: isSizeError(err) };
    };
    expect(verdict(27)).toEqual({ permanent: true, loud: false, split: false });
    expect(verdict(241)).toEqual({ permanent: false, loud: false, split: true });
    expect(verdict(252)).toEqual({ permanent: false, loud: false, split: false });
    expect(verdict(60)).toEqual({ permanent: false, loud: true, split: false });
    expect(verdict(1002)).toEqual({ permanent: false, loud: false, split: false });
  });
});

describe('splitting a batch in the spool', () => {
  it('keeps the halves in the batch’s place, and after a crash mid-split replays the batch or its halves, never both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-spool-split-'));
    const spool = new Spool(dir, false);
    await spool.recover();
    const open = await spool.create('t');
    await spool.append(open, Buffer.from('{"n":1}\n{"n":2}\n{"n":3}\n'), 3);
    const seg = await spool.seal(open);
    const [a, b] = (await spool.split(seg))!;
    expect([a.rows, b.rows, a.seq, b.seq, a.token, b.token]).toEqual([
      1,
      2,
      seg.seq,
      seg.seq,
      `${seg.token}a`,
      `${seg.token}b`,
    ]);
    expect([...(await spool.read(a)), ...(await spool.read(b))]).toEqual([
      ...Buffer.from('{"n":1}\n{"n":2}\n{"n":3}\n'),
    ]);
    expect(await new Spool(dir, false).recover()).toEqual([
      expect.objectContaining({ token: a.token, bytes: 8 }),
      expect.objectContaining({ token: b.token, bytes: 16 }),
    ]);
    // A crash after the first half was renamed into place: the batch stays whole, the half goes.
    const name = (s: { seq: number; table: string; token: string }) =>
      join(dir, `${String(s.seq).padStart(12, '0')}.${s.table}.${s.token}.jsonl`);
    writeFileSync(name(seg), '{"n":1}\n{"n":2}\n{"n":3}\n');
    rmSync(name(b));
    expect((await new Spool(dir, false).recover()).map((s) => s.token)).toEqual([seg.token]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl'))).toEqual([
      `${String(seg.seq).padStart(12, '0')}.t.${seg.token}.jsonl`,
    ]);
  });
});
