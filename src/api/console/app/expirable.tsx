import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call } from './api.ts';
import { follow, navigate } from './router.ts';

/** Active first, then pending, then expired: what still holds before what no longer does. */
export const STATE_ORDER = { active: 0, pending: 1, expired: 2 } as const;

/**
 * Records an operator may expire (silences, maintenance windows): `list` read at first and after
 * each change, `DELETE` on `one(id)` to expire one. The API's last refusal is `error`.
 */
export function useExpirable<T>(list: string, one: (id: string) => string) {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState('');
  const [seq, setSeq] = useState(0);
  useEffect(() => {
    call<T[]>('GET', list)
      .then(setItems)
      .catch((err: Error) => setError(err.message));
  }, [seq]);
  const reload = () => setSeq((s) => s + 1);
  const expire = async (id: string) => {
    try {
      await call('DELETE', one(encodeURIComponent(id)));
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return { items, error, reload, expire };
}

/** A message of the API's, announced. */
export function ErrorAlert({ error }: { error: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

/**
 * The top of a page of expirable records: its title, a link to the creation form for operators
 * (`form`, shown instead of the link while creating), and the API's last refusal.
 */
export function ExpirableHeader({
  title,
  newLabel,
  newHref,
  acts,
  form,
  error,
}: {
  title: string;
  newLabel: string;
  newHref: string;
  acts: boolean;
  form: ComponentChildren | null;
  error: string;
}) {
  return (
    <>
      <div class="toolbar">
        <h1>{title}</h1>
        {acts && !form && (
          <a class="button" href={newHref} onClick={follow}>
            {newLabel}
          </a>
        )}
      </div>
      {form}
      <ErrorAlert error={error} />
    </>
  );
}

/**
 * A creation form's submit: `POST` of `body()` to `path`, then back to the list at `back` (the
 * form closes) and `onCreated`; or the API's refusal as `error`, the form kept as filled.
 */
export function useCreate(path: string, back: string, onCreated: () => void) {
  const [error, setError] = useState('');
  const submit = (body: () => object) => async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await call('POST', path, body());
      navigate(back, true);
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return { error, setError, submit };
}

/** The table of records, with an Actions column for operators; "Loading…" until read, `empty` when none. */
export function ExpirableTable({
  items,
  empty,
  label,
  columns,
  acts,
  children,
}: {
  items: unknown[] | null;
  empty: string;
  label: string;
  columns: string[];
  acts: boolean;
  children: ComponentChildren;
}) {
  if (items === null) return <p>Loading…</p>;
  if (items.length === 0) return <p>{empty}</p>;
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          {(acts ? [...columns, 'Actions'] : columns).map((c) => (
            <th key={c} scope="col">
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

/** A record's Expire button (none once expired), labelled with what it expires. */
export function ExpireCell({ label, expired, onExpire }: { label: string; expired: boolean; onExpire: () => void }) {
  return (
    <td>
      {!expired && (
        <button type="button" aria-label={label} onClick={onExpire}>
          Expire
        </button>
      )}
    </td>
  );
}
