import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import snmp from 'net-snmp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadMibDir, OidNames } from '../../../src/receivers/snmp/oidNames.ts';

const FIXTURE = resolve(import.meta.dirname, 'mibs/VIGIL-TEST-MIB.txt');

/** A vendor module under vigilTestMIB that imports it, as product MIBs import their vendor's root. */
function productMib(i: number): string {
  return `VIGIL-PRODUCT${i}-MIB DEFINITIONS ::= BEGIN
IMPORTS
    OBJECT-TYPE, NOTIFICATION-TYPE, Integer32 FROM SNMPv2-SMI
    vigilTestMIB FROM VIGIL-TEST-MIB;

product${i} OBJECT IDENTIFIER ::= { vigilTestMIB ${100 + i} }

product${i}Temperature OBJECT-TYPE
    SYNTAX      Integer32
    MAX-ACCESS  accessible-for-notify
    STATUS      current
    DESCRIPTION "Degrees."
    ::= { product${i} 1 }

product${i}TooHot NOTIFICATION-TYPE
    OBJECTS     { product${i}Temperature }
    STATUS      current
    DESCRIPTION "Too hot."
    ::= { product${i} 0 1 }
END
`;
}

/** Counts the Serialize calls of the MIB parsers net-snmp's module stores hand out from now on. */
function countSerializes(): () => number {
  let calls = 0;
  const create = snmp.createModuleStore.bind(snmp);
  vi.spyOn(snmp, 'createModuleStore').mockImplementation((...args: Parameters<typeof snmp.createModuleStore>) => {
    const store = create(...args);
    const parser = (store as unknown as { parser: { Serialize(): void } }).parser;
    const serialize = parser.Serialize.bind(parser);
    parser.Serialize = () => {
      calls++;
      serialize();
    };
    return store;
  });
  return () => calls;
}

describe('MIB directory loading', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('loads a directory of 300 vendor MIBs resolving once per round of imports, not once per file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-mibs-'));
    copyFileSync(FIXTURE, join(dir, 'VIGIL-TEST-MIB.txt'));
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `VIGIL-PRODUCT${i}-MIB.my`), productMib(i));
    const serializes = countSerializes();
    const { names, loaded, skipped } = loadMibDir(dir);
    // Each Serialize re-resolves every file given so far: one per file, as net-snmp's
    // loadFromFile does, took 150 s here. The vendor root, then its 300 products: two rounds.
    expect(serializes()).toBe(2);
    expect(skipped).toEqual([]);
    expect(loaded).toHaveLength(301);
    expect(names.name('1.3.6.1.4.1.32473.399.0.1')).toBe('VIGIL-PRODUCT299-MIB::product299TooHot');
    expect(names.name('1.3.6.1.4.1.32473.100.1.0')).toBe('VIGIL-PRODUCT0-MIB::product0Temperature.0');
  });

  it('a file the parser rejects among good ones in the same round is skipped alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-mibs-'));
    copyFileSync(FIXTURE, join(dir, 'VIGIL-TEST-MIB.txt'));
    writeFileSync(
      join(dir, 'BROKEN-MIB.txt'),
      'BROKEN-MIB DEFINITIONS ::= BEGIN\nIMPORTS enterprises FROM SNMPv2-SMI;\nbroken OBJECT IDENTIFIER ::= { enterprises\nEND\n',
    );
    writeFileSync(join(dir, 'VIGIL-PRODUCT1-MIB.txt'), productMib(1));
    writeFileSync(join(dir, 'notes.txt'), readFileSync(resolve(import.meta.dirname, 'mibs/README.txt')));
    const { names, skipped } = loadMibDir(dir);
    expect(skipped).toEqual([{ file: join(dir, 'BROKEN-MIB.txt'), reason: expect.stringMatching(/^parse error: /) }]);
    expect(names.name('1.3.6.1.4.1.32473.0.2')).toBe('VIGIL-TEST-MIB::vigilFanRecovered');
    expect(names.name('1.3.6.1.4.1.32473.101.0.1')).toBe('VIGIL-PRODUCT1-MIB::product1TooHot');
  });

  it('names the longest known prefix, keeping the rest as the instance', () => {
    const names = new OidNames(
      new Map([
        ['1.3.6.1.4.1', 'SNMPv2-SMI::enterprises'],
        ['1.3.6.1.2.1.2.2.1.1', 'IF-MIB::ifIndex'],
      ]),
    );
    expect(names.name('1.3.6.1.2.1.2.2.1.1.7')).toBe('IF-MIB::ifIndex.7');
    expect(names.name('1.3.6.1.2.1.2.2.1.1')).toBe('IF-MIB::ifIndex');
    expect(names.name('1.3.6.1.4.1.9.9.41')).toBe('SNMPv2-SMI::enterprises.9.9.41');
    expect(names.name('1.3.6.1.2.1.2.2.1.10')).toBeUndefined();
  });
});
