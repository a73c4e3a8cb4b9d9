/**
 * A component's implementation, imported on first use: a factory whose `load()` imports its
 * modules keeps their code, and the packages they pull in (ioredis, nodemailer, jose, net-snmp,
 * @clickhouse/client), out of a process whose config does not use the component. An agent that
 * only forwards OTLP then starts faster and idles smaller.
 */
export interface LazyModule<M> {
  /** Imports the module once; later calls share the same promise. */
  load(): Promise<void>;
  /** The loaded module; throws when `load()` has not finished, which is a wiring error. */
  get(): M;
}

export function lazyModule<M>(what: string, importer: () => Promise<M>): LazyModule<M> {
  let mod: M | undefined;
  let loading: Promise<void> | undefined;
  return {
    load: () =>
      (loading ??= importer().then((m) => {
        mod = m;
      })),
    get() {
      if (mod === undefined) throw new Error(`${what} was created before its factory's load() finished`);
      return mod;
    },
  };
}
