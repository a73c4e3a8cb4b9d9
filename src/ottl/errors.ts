import { VigilError } from '../errors.ts';

/**
 * A condition or path that cannot compile. `column` is 1-based in `source`, so the config
 * loader can print `processors.filter/noisy.conditions[1]: column 14: expected ...`.
 */
export class OttlError extends VigilError {
  readonly column: number;
  readonly source: string;
  /** The message without its `column N: ` prefix. */
  readonly detail: string;
  constructor(source: string, column: number, detail: string) {
    super('VIGIL_OTTL_INVALID', `column ${column}: ${detail}`);
    this.source = source;
    this.column = column;
    this.detail = detail;
  }
}
