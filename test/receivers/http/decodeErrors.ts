import { expect } from 'vitest';

/** What the decoders under test throw past their limit, with the size they were told of. */
export class TooLarge extends Error {
  readonly stated: number;
  constructor(stated: number) {
    super(`too large: ${stated}`);
    this.stated = stated;
  }
}
export const tooLarge = (stated: number) => new TooLarge(stated);
export const MiB = 1024 * 1024;

/** The message of the corrupt-body error `fn` throws, which must be of `kind`. */
export function corruptMessage(kind: new (detail: string) => Error, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(kind);
    return (err as Error).message;
  }
  throw new Error('decoded a corrupt body');
}

/**
 * Decodes `body` with single bytes replaced and cut short at random (seed 18), and fails on any
 * error that is not `kind` or TooLarge: a mutated body is refused as corrupt or as too large,
 * never in some other way.
 */
export function mutationsOnlyRefused(
  kind: new (detail: string) => Error,
  bodies: Buffer[],
  decode: (body: Buffer) => unknown,
  random: () => number,
): void {
  for (let i = 0; i < 3000; i++) {
    const body = Buffer.from(bodies[i % bodies.length]!);
    for (let k = 0; k < 1 + Math.floor(random() * 4); k++)
      body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
    const cut = random() < 0.3 ? body.subarray(0, Math.floor(random() * body.length)) : body;
    try {
      decode(cut);
    } catch (err) {
      if (!(err instanceof kind) && !(err instanceof TooLarge))
        throw new Error(`seed 18, case ${i}: ${String(err)}`, { cause: err });
    }
  }
}
