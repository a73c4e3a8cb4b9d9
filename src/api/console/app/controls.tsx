import { SEVERITY_FLOOR } from './format.ts';
import { RANGES } from './range.ts';

/** A labelled drop-down of `[value, text]` options. */
export function Choice({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: [string, string][];
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** "Any" or a least severity, as the API's `severity` parameters take it. */
export const SEVERITY_OPTIONS: [string, string][] = [
  ['', 'any'],
  ...Object.keys(SEVERITY_FLOOR).map((s): [string, string] => [s, s]),
];

/** The ranges offered, with `zoomed` first when the address names its own. */
export const rangeOptions = (zoomed: boolean): [string, string][] => [
  ...(zoomed ? [['', 'zoomed'] as [string, string]] : []),
  ...RANGES.map(([k]): [string, string] => [k, `last ${k}`]),
];
