import { ApiProblem } from './problem.ts';

/**
 * Cursors are opaque to clients: a JSON array of where a page ended, base64url-encoded. Each
 * list reads its own shape back and refuses anything else, never guessing.
 */
export function cursorText(parts: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The array a cursor holds, when it holds one. */
export function cursorParts(text: string): unknown[] | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function foreignCursor(): ApiProblem {
  return new ApiProblem(
    'VIGIL_INVALID_CURSOR',
    'cursor is not one this API gave; pass next_cursor from the previous page unchanged',
  );
}
