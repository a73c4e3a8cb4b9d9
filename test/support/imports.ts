import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const SRC = resolve(import.meta.dirname, '../../src');

/** Every .ts file under a directory. */
export function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier of static imports, re-exports and dynamic imports. */
export function specifiers(text: string): string[] {
  return [
    ...text.matchAll(
      /(?:^|[\s;])(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]|(?:^|[\s;])import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm,
    ),
  ].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/**
 * Imports from files under `dir` (relative to src/) that no pattern allows, as
 * "file imports spec"; node builtins are always allowed, packages appear as `package name`.
 */
export function importLeaks(dir: string, allowed: readonly RegExp[]): { files: number; leaks: string[] } {
  const files = sources(join(SRC, dir));
  const leaks: string[] = [];
  for (const file of files) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:')) continue;
      const target = spec.startsWith('.')
        ? relative(SRC, resolve(file, '..', spec))
            .split('\\')
            .join('/')
        : `package ${spec}`;
      if (!allowed.some((a) => a.test(target))) leaks.push(`${relative(SRC, file)} imports ${spec}`);
    }
  }
  return { files: files.length, leaks };
}
