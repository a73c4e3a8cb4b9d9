import type { VigilEvent } from '../model/event.ts';
import { severityFromText, severityName } from '../model/severity.ts';
import type { Value } from '../ottl/index.ts';

export interface Severity {
  number: number;
  text: string;
}

/**
 * Reads a severity as operators write it: an OTel number 1–24 (`17`, `"17"`) or a word
 * (`error`, `crit`, `warning`). A number gets its OTel short name as text; a word keeps
 * its own spelling. Undefined when it is neither.
 */
export function parseSeverity(v: Value): Severity | undefined {
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) v = Number(v);
  if (typeof v === 'number')
    return Number.isInteger(v) && v >= 1 && v <= 24 ? { number: v, text: severityName(v) } : undefined;
  if (typeof v !== 'string') return undefined;
  const n = severityFromText(v);
  return n === 0 ? undefined : { number: n, text: v.trim() };
}

export function setSeverity(e: VigilEvent, s: Severity): void {
  e.severityNumber = s.number;
  e.severityText = s.text;
}
