import { existsSync, readFileSync } from 'node:fs';

/** Reads an NDJSON file written by the file exporter; [] when it does not exist yet. */
export function readNdjson<T = Record<string, unknown>>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
