import type { Incident, IncidentStatus } from '../model/incident.ts';
import { cursorParts, cursorText, foreignCursor } from './cursor.ts';
import { ApiProblem } from './problem.ts';

export const SORTS = ['opened_at', '-opened_at', 'updated_at', '-updated_at', 'severity', '-severity'] as const;
export type Sort = (typeof SORTS)[number];

/** A list request, validated: every filter present must hold. */
export interface IncidentQuery {
  states?: ReadonlySet<IncidentStatus>;
  minSeverity?: number;
  rules?: ReadonlySet<string>;
  labels?: readonly (readonly [string, string])[];
  tenant?: string;
  assignee?: string;
  /** Exact asset, service, or asset's parent in the topology ('' for none). */
  asset?: string;
  service?: string;
  parent?: string;
  /** Incidents open at some moment of [sinceMs, untilMs]. */
  sinceMs?: number;
  untilMs?: number;
  /** Lower case; found in the title, key, id, asset or service. */
  text?: string;
  sort: Sort;
  limit: number;
  /** From the previous page's cursor. */
  after?: Cursor;
}

/** Where a page ended: the sort it was for, and the last incident's sort value and id. */
export interface Cursor {
  sort: Sort;
  value: number;
  id: string;
}

function sortValue(inc: Incident, sort: Sort | Field): number {
  switch (sort) {
    case 'opened_at':
    case '-opened_at':
      return inc.openedAtMs;
    case 'updated_at':
    case '-updated_at':
      return inc.updatedAtMs;
    case 'severity':
    case '-severity':
      return inc.severityNumber;
  }
}

/**
 * Orders by the sort value, then by id, so that every incident has one place: pages never repeat
 * or skip one that did not change. Negative when (value, id) comes before `b`.
 */
function compare(sign: number, value: number, id: string, b: { value: number; id: string }): number {
  return sign * (value - b.value || (id < b.id ? -1 : id > b.id ? 1 : 0));
}

export function encodeCursor(c: Cursor): string {
  return cursorText([c.sort, c.value, c.id]);
}

/** The cursor a previous page gave, for the same sort; anything else is refused, never guessed at. */
export function decodeCursor(text: string, sort: Sort): Cursor {
  const parsed = cursorParts(text);
  if (
    !parsed ||
    parsed.length !== 3 ||
    !(SORTS as readonly unknown[]).includes(parsed[0]) ||
    typeof parsed[1] !== 'number' ||
    !Number.isFinite(parsed[1]) ||
    typeof parsed[2] !== 'string'
  )
    throw foreignCursor();
  if (parsed[0] !== sort)
    throw new ApiProblem(
      'VIGIL_INVALID_CURSOR',
      `cursor was given for sort=${parsed[0]}, not sort=${sort}; keep the sort while paging`,
    );
  return { sort, value: parsed[1], id: parsed[2] };
}

/** The parent asset (topology) of the incident on a key, for the `parent` filter. */
export type ParentOf = (key: string) => string;
const noParent: ParentOf = () => '';

function matches(inc: Incident, q: IncidentQuery, scopeTenant: string | undefined, parentOf: ParentOf): boolean {
  if (scopeTenant !== undefined && inc.tenant !== scopeTenant) return false;
  if (q.tenant !== undefined && inc.tenant !== q.tenant) return false;
  if (q.states && !q.states.has(inc.status)) return false;
  if (q.minSeverity !== undefined && inc.severityNumber < q.minSeverity) return false;
  if (q.rules && !q.rules.has(inc.rule)) return false;
  if (q.assignee !== undefined && (inc.assignee ?? '') !== q.assignee) return false;
  if (q.asset !== undefined && inc.asset !== q.asset) return false;
  if (q.service !== undefined && inc.service !== q.service) return false;
  if (q.labels) for (const [name, value] of q.labels) if (inc.labels[name] !== value) return false;
  if (q.untilMs !== undefined && inc.openedAtMs > q.untilMs) return false;
  if (q.sinceMs !== undefined && inc.status === 'resolved' && inc.resolvedAtMs < q.sinceMs) return false;
  if (q.text !== undefined) {
    const t = q.text;
    if (
      !inc.title.toLowerCase().includes(t) &&
      !inc.key.toLowerCase().includes(t) &&
      !inc.id.includes(t) &&
      !inc.asset.toLowerCase().includes(t) &&
      !inc.service.toLowerCase().includes(t)
    )
      return false;
  }
  // Last: the only test that reads beyond the incident itself.
  if (q.parent !== undefined && parentOf(inc.key) !== q.parent) return false;
  return true;
}

/**
 * One page of the incidents that match, in the query's order, after its cursor. Keyset paging:
 * the cursor is a place in the order, not an offset, so incidents opened or changed meanwhile
 * neither shift a page nor repeat one; an incident whose sort value changed shows where it now
 * sorts. Keeps only the best `limit + 1` while scanning, so a page costs one pass whatever the total.
 */
export function pageOfIncidents(
  all: Iterable<Incident>,
  q: IncidentQuery,
  scopeTenant: string | undefined,
  parentOf: ParentOf = noParent,
): { items: Incident[]; next?: Cursor } {
  const sign = q.sort.startsWith('-') ? -1 : 1;
  const keep = q.limit + 1;
  const best: { value: number; id: string; inc: Incident }[] = [];
  for (const inc of all) {
    if (!matches(inc, q, scopeTenant, parentOf)) continue;
    // Compared before anything is allocated: most incidents of a large set fall outside the page.
    const value = sortValue(inc, q.sort);
    if (q.after && compare(sign, value, inc.id, q.after) <= 0) continue;
    if (best.length === keep && compare(sign, value, inc.id, best[keep - 1]!) >= 0) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(sign, value, inc.id, best[mid]!) > 0) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, { value, id: inc.id, inc });
    if (best.length > keep) best.pop();
  }
  const page = best.slice(0, q.limit);
  const last = page.at(-1);
  return {
    items: page.map((e) => e.inc),
    ...(best.length > q.limit && last ? { next: { sort: q.sort, value: last.value, id: last.id } } : {}),
  };
}

type Field = 'opened_at' | 'updated_at' | 'severity';
const FIELDS: readonly Field[] = ['opened_at', 'updated_at', 'severity'];
const fieldOf = (sort: Sort): Field => (sort.startsWith('-') ? sort.slice(1) : sort) as Field;

/** An incident's place in one order: its sort value and id when it was filed. */
interface Place {
  value: number;
  id: string;
  key: string;
}

/** Where (value, id) goes in `order` (ascending by value, then id): the first place not before it. */
function lowerBound(order: readonly Place[], value: number, id: string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(1, order[mid]!.value, order[mid]!.id, { value, id }) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The incidents the core holds, kept in order by each sort field, so that a page costs the
 * incidents it looks at (from the cursor on, until it has `limit` that match), not a scan and
 * sort of every incident. It stays current by taking, before each page, the incidents whose
 * record changed since the last one (`watchIncidents`: local writes, other agents' merges,
 * expiries alike) and moving each to its new place; past a share of the whole it sorts again.
 */
export class IncidentIndex {
  private readonly watch: () => [string, Incident | undefined][];
  private readonly byKey = new Map<string, { inc: Incident; places: Place[] }>();
  private orders: Place[][] = FIELDS.map(() => []);

  constructor(desk: { incidents(): Iterable<Incident>; watchIncidents(): () => [string, Incident | undefined][] }) {
    // Watching starts before the first scan: a change made meanwhile is taken with the next page.
    this.watch = desk.watchIncidents();
    for (const inc of desk.incidents()) this.byKey.set(inc.key, { inc, places: this.placesOf(inc) });
    this.resort();
  }

  get size(): number {
    return this.byKey.size;
  }

  private placesOf(inc: Incident): Place[] {
    return FIELDS.map((f) => ({ value: sortValue(inc, f), id: inc.id, key: inc.key }));
  }

  private resort(): void {
    this.orders = FIELDS.map((_, i) => {
      const order = [...this.byKey.values()].map((e) => e.places[i]!);
      return order.sort((a, b) => compare(1, a.value, a.id, b));
    });
  }

  /** Takes the changes since the last page and files them. */
  refresh(): void {
    const changed = this.watch();
    if (changed.length === 0) return;
    const many = changed.length > 64 && changed.length * 20 > this.byKey.size;
    for (const [key, inc] of changed) {
      const before = this.byKey.get(key);
      if (before && !many) this.orders.forEach((order, i) => this.unfile(order, before.places[i]!));
      if (!inc) {
        this.byKey.delete(key);
        continue;
      }
      const places = this.placesOf(inc);
      this.byKey.set(key, { inc, places });
      if (!many)
        this.orders.forEach((order, i) => {
          const p = places[i]!;
          order.splice(lowerBound(order, p.value, p.id), 0, p);
        });
    }
    if (many) this.resort();
  }

  private unfile(order: Place[], place: Place): void {
    let at = lowerBound(order, place.value, place.id);
    if (order[at] !== place) at = order.indexOf(place);
    if (at >= 0) order.splice(at, 1);
  }

  /** One page, as `pageOfIncidents` answers it. */
  page(
    q: IncidentQuery,
    scopeTenant: string | undefined,
    parentOf: ParentOf = noParent,
  ): { items: Incident[]; next?: Cursor } {
    this.refresh();
    const order = this.orders[FIELDS.indexOf(fieldOf(q.sort))]!;
    const descending = q.sort.startsWith('-');
    const step = descending ? -1 : 1;
    let i: number;
    if (!q.after) i = descending ? order.length - 1 : 0;
    else {
      const at = lowerBound(order, q.after.value, q.after.id);
      // Strictly after the cursor's place in the order asked for.
      i = descending
        ? at - 1
        : at < order.length && compare(1, order[at]!.value, order[at]!.id, q.after) === 0
          ? at + 1
          : at;
    }
    const items: Incident[] = [];
    let last: Place | undefined;
    for (; i >= 0 && i < order.length; i += step) {
      const place = order[i]!;
      const inc = this.byKey.get(place.key)!.inc;
      if (!matches(inc, q, scopeTenant, parentOf)) continue;
      if (items.length === q.limit) return { items, next: { sort: q.sort, value: last!.value, id: last!.id } };
      items.push(inc);
      last = place;
    }
    return { items };
  }
}
