import { parse as parseYaml } from 'yaml';
import type { AttrValue, Attributes } from '../../model/attributes.ts';
import { setOwn, stringLike } from '../../ottl/index.ts';

/** A lookup table: key → the row's fields (the key field included). */
export type Table = Map<string, Attributes>;

export class TableFormatError extends Error {}

/** RFC 4180 records: comma-separated, `"` quotes fields, `""` is a quote inside one, CRLF or LF ends a record. */
export function parseCsvRecords(text: string): { fields: string[]; line: number }[] {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let quoted = false;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += c;
  }
  if (quoted) throw new TableFormatError(`line ${recordLine}: a quoted field is not closed`);
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

export function parseCsvTable(text: string, keyField: string): Table {
  const [header, ...rows] = parseCsvRecords(text);
  if (!header) throw new TableFormatError('the file is empty; expected a header row naming the columns');
  const columns = header.fields.map((f) => f.trim());
  const keyIndex = columns.indexOf(keyField);
  if (keyIndex === -1)
    throw new TableFormatError(`the header has no "${keyField}" column (key_field); columns: ${columns.join(', ')}`);
  const table: Table = new Map();
  for (const { fields, line } of rows) {
    if (fields.length !== columns.length)
      throw new TableFormatError(`line ${line} has ${fields.length} fields, the header has ${columns.length}`);
    const row: Attributes = {};
    columns.forEach((c, i) => setOwn(row, c, fields[i]!));
    table.set(fields[keyIndex]!, row);
  }
  return table;
}

function toAttributes(v: unknown, where: string): Attributes {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new TableFormatError(`${where} must be a mapping of fields`);
  const out: Attributes = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>))
    if (x !== null && x !== undefined) out[k] = x as AttrValue;
  return out;
}

/** YAML either as `key: {field: value}` or as a list of rows each holding `key_field`. */
export function parseYamlTable(text: string, keyField: string): Table {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TableFormatError(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const table: Table = new Map();
  if (doc === null || doc === undefined) return table;
  if (Array.isArray(doc)) {
    doc.forEach((item, i) => {
      const row = toAttributes(item, `item ${i}`);
      const key = stringLike(row[keyField]);
      if (key === undefined) throw new TableFormatError(`item ${i} has no "${keyField}" field (key_field)`);
      table.set(key, row);
    });
    return table;
  }
  if (typeof doc !== 'object') throw new TableFormatError('expected a mapping of key → fields, or a list of rows');
  for (const [key, v] of Object.entries(doc as Record<string, unknown>))
    table.set(key, { [keyField]: key, ...toAttributes(v, `"${key}"`) });
  return table;
}
