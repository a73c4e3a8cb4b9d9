import type { Matcher } from './api.ts';
import { Choice } from './controls.tsx';

export type Op = '=' | '!=' | '=~' | '!~';
export interface MatcherRow {
  name: string;
  op: Op;
  value: string;
}

const OPS: Op[] = ['=', '!=', '=~', '!~'];

export const toMatcher = (r: MatcherRow): Matcher => ({
  name: r.name.trim(),
  value: r.value,
  isRegex: r.op === '=~' || r.op === '!~',
  isEqual: r.op === '=' || r.op === '=~',
});

/** The rows that name a label, as the API takes them. */
export const matchersOf = (rows: MatcherRow[]): Matcher[] => rows.filter((r) => r.name.trim()).map(toMatcher);

const opOf = (m: Matcher): Op => (m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=');

/** The matchers of a silence or a maintenance window as `name=~"value"` chips. */
export function MatcherChips({ matchers }: { matchers: Matcher[] }) {
  return (
    <>
      {matchers.map((m, k) => (
        <span key={k} class="chip">
          {m.name}
          {opOf(m)}
          {JSON.stringify(m.value)}
        </span>
      ))}
    </>
  );
}

/** The editable matchers of a new silence or maintenance window: name, operator, value, one row each. */
export function MatcherFields({ rows, onChange }: { rows: MatcherRow[]; onChange: (rows: MatcherRow[]) => void }) {
  const update = (k: number, patch: Partial<MatcherRow>) =>
    onChange(rows.map((r, j) => (j === k ? { ...r, ...patch } : r)));
  return (
    <fieldset>
      <legend>Matchers (all must hold)</legend>
      {rows.map((r, k) => (
        <div class="matcher" key={k}>
          <label>
            Name
            <input required value={r.name} onInput={(e) => update(k, { name: e.currentTarget.value })} />
          </label>
          <Choice
            label="Operator"
            value={r.op}
            options={OPS.map((o) => [o, o])}
            onChange={(op) => update(k, { op: op as Op })}
          />
          <label>
            Value
            <input value={r.value} onInput={(e) => update(k, { value: e.currentTarget.value })} />
          </label>
          <button
            type="button"
            aria-label={`Remove matcher ${k + 1}`}
            disabled={rows.length === 1}
            onClick={() => onChange(rows.filter((_, j) => j !== k))}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...rows, { name: '', op: '=', value: '' }])}>
        Add matcher
      </button>
    </fieldset>
  );
}
