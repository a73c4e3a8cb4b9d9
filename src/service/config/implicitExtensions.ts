import type { CorrelationConnectorConfig } from '../../connectors/correlation/config.ts';
import type { ConfigIssue } from '../../config/schema.ts';
import { withLedgerExtension } from '../../exporters/tickets/config.ts';
import { componentType } from '../../pipeline/component.ts';
import { connectionOf } from '../../state/redisConfig.ts';
import type { FactoryRegistry } from './load.ts';
import type { VigilConfig } from './vigilConfig.ts';

/**
 * The form before extensions: `correlation.state` with `store: redis` and its connection settings
 * inline, and incident exporters finding the shared ledger by themselves. It stands for what it
 * always meant, written out as extensions: a `redis_state/<connector>` extension with those
 * settings, the connector's `state.extension` naming it, and a `ticket_ledger/<connector>`
 * extension on it that every incident exporter without a ledger of its own keeps its tickets in.
 * The extensions are added to `extensions:` and `service.extensions` as if written there, so the
 * service, `/readyz` and the logs see one shape whichever form the file used.
 *
 * `defined` is the raw `extensions:` section, which reference checks read; `paths` maps a
 * connector id to its YAML path when it came from a top-level section (`correlation`).
 */
export function expandImplicitExtensions(
  out: VigilConfig,
  defined: Record<string, unknown>,
  issues: ConfigIssue[],
  paths: ReadonlyMap<string, string>,
): void {
  let sharedLedger: string | undefined;
  for (const c of Object.values(out.connectors)) {
    if (c.type !== 'correlation') continue;
    const config = c.config as CorrelationConnectorConfig;
    const { state } = config;
    if (state.store !== 'redis' || state.extension !== undefined) continue;
    const name = c.id.replaceAll('/', '.');
    const redisId = `redis_state/${name}`;
    const ledgerId = `ticket_ledger/${name}`;
    const taken = [redisId, ledgerId].find((id) => id in defined);
    if (taken) {
      issues.push({
        path: `${paths.get(c.id) ?? `connectors.${c.id}`}.state`,
        message: `stands for the extension "${taken}", which extensions: defines too; name a redis_state extension in state.extension instead of the settings here`,
      });
      continue;
    }
    const add = (id: string, type: string, extensionConfig: unknown) => {
      out.extensions[id] = { id, type, config: extensionConfig };
      defined[id] = {};
      if (out.service && !out.service.extensions.includes(id)) out.service.extensions.push(id);
    };
    add(redisId, 'redis_state', connectionOf(state));
    c.config = { ...config, state: { ...state, extension: redisId } };
    // As before, the first connector sharing its state shares its ledger with the exporters.
    if (sharedLedger !== undefined) continue;
    sharedLedger = ledgerId;
    add(ledgerId, 'ticket_ledger', { redis_state: redisId });
  }
  if (sharedLedger === undefined) return;
  for (const e of Object.values(out.exporters)) {
    const adopted = withLedgerExtension(e.config, sharedLedger);
    if (adopted) e.config = adopted;
  }
}

/**
 * Two correlation connectors on one `redis_state` would be two engines writing as one agent,
 * and contend with each other for the one timers lease: refused, at the second one's path.
 */
export function checkStateOwners(out: VigilConfig, issues: ConfigIssue[], paths: ReadonlyMap<string, string>): void {
  const owner = new Map<string, string>();
  for (const c of Object.values(out.connectors)) {
    if (c.type !== 'correlation') continue;
    const id = (c.config as CorrelationConnectorConfig).state.extension;
    if (id === undefined) continue;
    const first = owner.get(id);
    if (first === undefined) owner.set(id, c.id);
    else
      issues.push({
        path: `${paths.get(c.id) ?? `connectors.${c.id}`}.state.extension`,
        message: `"${id}" already keeps the state of connector "${first}"; give each correlation connector its own redis_state extension (one prefix each)`,
      });
  }
}

/**
 * `service.extensions` in the order to start them: one another refers to (a ticket ledger's
 * redis_state) before it, otherwise as listed. Shutdown runs the reverse.
 */
export function extensionStartOrder(config: VigilConfig, registry: FactoryRegistry): string[] {
  const listed = config.service.extensions;
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (id: string) => {
    if (order.includes(id) || visiting.has(id) || !listed.includes(id)) return;
    visiting.add(id);
    const c = config.extensions[id]!;
    const factory = registry.extensions.find((f) => f.type === componentType(id));
    for (const ref of factory?.extensionRefs?.(c.config as never) ?? []) visit(ref.id);
    order.push(id);
  };
  for (const id of listed) visit(id);
  return order;
}
