/** Distinct SD-ID and parameter pairs whose value is kept; senders choose them, so a bound. */
const MAX_PAIRS = 4096;

/**
 * A value made once per structured-data (SD-ID, parameter name) pair and kept, such as the flat
 * attribute name of the pair: senders repeat a handful of pairs in every message. Past MAX_PAIRS
 * distinct pairs everything is forgotten and made again as needed.
 */
export class PerSdPair<V> {
  private readonly make: (id: string, name: string) => V;
  private readonly byId = new Map<string, Map<string, V>>();
  private count = 0;

  constructor(make: (id: string, name: string) => V) {
    this.make = make;
  }

  get(id: string, name: string): V {
    let byName = this.byId.get(id);
    let value = byName?.get(name);
    if (value !== undefined) return value;
    value = this.make(id, name);
    if (this.count >= MAX_PAIRS) {
      this.byId.clear();
      this.count = 0;
      byName = undefined;
    }
    if (byName === undefined) this.byId.set(id, (byName = new Map()));
    byName.set(name, value);
    this.count++;
    return value;
  }
}
