#!/usr/bin/env node
// First: later modules must load into a process whose objects have no __proto__ accessor.
import '../src/service/hardening.ts';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { registry } from '../src/components.ts';
import { renderConfigReference, spliceReference } from '../src/service/config/docs.ts';
import { loadConfigFile, parseConfig } from '../src/service/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { reloadTlsListeners } from '../src/receivers/http/tlsConfig.ts';
import { ConfigWatcher } from '../src/service/configWatcher.ts';
import type { Logger } from '../src/telemetry/logger.ts';
import { VigilService } from '../src/service/service.ts';
import { keepYoungGenerationSmall } from '../src/pipeline/memoryGuard.ts';
// The other commands' modules load when they run: `vigil run` of an agent loads none of them.
import type { BacktestResult, IncidentOutline } from '../src/service/rulesBacktest.ts';
import type { VigilConfig } from '../src/service/config/vigilConfig.ts';
import { parseDuration } from '../src/config/schema.ts';
import { toJson } from '../src/model/attributes.ts';
import type { StuckEntry } from '../src/exporters/tickets/outboxJournal.ts';
import type { IncidentChange } from '../src/model/incident.ts';
import { severityFromText } from '../src/model/severity.ts';
import { formatDuration } from '../src/correlation/incidentBook.ts';
import { groupOf } from '../src/exporters/tickets/notificationGroups.ts';
import { ALL_LABELS, type RouteGrouping } from '../src/exporters/tickets/routeGrouping.ts';
import { apikey, APIKEY_HELP } from './apikey.ts';
import { CommandFailure, StreamingTable, table, UsageError } from './cliSupport.ts';
import { fileLines, ProgressBar } from './progress.ts';

const USAGE = `Usage: vigil <command> [options]

Commands:
  run           run the daemon (default config: config/vigil.yaml)
  validate      check a config; exit 1 listing every error
  rules test    replay events through the correlation rules on a virtual clock
  rules backtest replay stored events through the rules; compare with the incidents opened
  rules lint    check the correlation rules and warn about likely mistakes
  routes test   show which routes and receivers an incident with these labels reaches
  tickets list  show the incident changes parked in the ticket outboxes and those waiting behind them
  tickets retry move parked changes back into delivery (safe while the daemon runs)
  apikey        create, list and revoke API keys for machines (the authenticator extension)
  config-docs   print the configuration reference (Markdown), or refresh it in a file
  version       print the version

Every command answers --help. --debug prints a stack trace with an error.`;

/** Help per command, on stdout with examples; `vigil <command> --help` prints it. */
const HELP: Record<string, string> = {
  routes: `Usage: vigil routes test --config FILE [--at TIME] [--verify-receivers R1,R2] [name=value ...]

Walks the config's routing tree (routing:) with an incident of these fields and labels, as
Alertmanager's "amtool config routes test" does: prints each matched route (its path of
matchers), its receiver and exporters and whether a time interval mutes it at --at (default
now), then the receivers on one line. A route that groups (group_by) also prints its group_by,
the group key the incident joins (Alertmanager's: route key, then the group's labels) and its
group_wait, group_interval and repeat_interval. Names severity, rule, service, asset, tenant and
kind (the change kind, default opened) set incident fields; alertname names the rule too (when
rule is not given) and stays a label; any other name is a label. severity defaults to error.

Options:
  -c, --config FILE           the configuration with a routing: section
      --at TIME               evaluate time intervals at this time (ISO 8601)
      --verify-receivers LIST exit 1 unless the receivers are exactly LIST (comma-separated)

Examples:
  vigil routes test --config vigil.yaml severity=critical service=billing
  vigil routes test --config vigil.yaml --at 2026-12-05T23:00:00+01:00 rule=asset_down site=paris
  vigil routes test --config vigil.yaml --verify-receivers oncall,default severity=error`,
  run: `Usage: vigil run [--config FILE] [--data-dir DIR]

Runs the daemon until SIGTERM or SIGINT, which drain every queue before exit; SIGHUP (or a change
of the file) reloads the correlation rules, and SIGHUP re-reads every TLS listener's certificate,
key and CA files.

Options:
  -c, --config FILE    the configuration (default: config/vigil.yaml)
      --data-dir DIR   where files, spools, state and embedded ClickHouse live (default: ./data)

Examples:
  vigil run
  vigil run --config /etc/vigil/vigil.yaml --data-dir /var/lib/vigil`,
  validate: `Usage: vigil validate --config FILE

Checks a configuration and exits 1 listing every error with its YAML path.

Example:
  vigil validate --config config/vigil.yaml`,
  rules: `Usage: vigil rules test --config FILE --events EVENTS.ndjson [--format table|json] [--after 10m] [--data-dir DIR]
       vigil rules backtest --config FILE --since 7d [--until TIME] [--rules a,b] [--json] [--data-dir DIR]
       vigil rules lint --config FILE

  test   replays events (NDJSON, one JSON event per line) through the correlation rules on a
         virtual clock and prints the incident timeline as it goes, as the daemon would decide
         (the file is read line by line, so its size does not matter; on a terminal a progress
         bar with events/s, position and ETA shows on stderr): each line
         is mapped as the logs pipeline's JSON receiver maps it and passes that pipeline's
         processors (extract, enrich, tag, filter) first; --after runs the clock on past the last
         event (a duration such as 90s or 10m) so timers fire; --data-dir is where relative
         lookup tables are (default: the config's data_dir, else ./data)
  backtest
         replays the events the config's clickhouse exporter stored (embedded or a server) from
         --since to --until (default now; each a duration back from now such as 7d or 12h, or an
         ISO 8601 time) through the config's rules, in the order they reached Vigil, and compares
         the incidents they would have opened with those stored: new (would open, nothing did),
         missing (opened, would not open) and changed (opened by both, but at another time, with
         another severity or resolution). --rules compares only these rules (all rules still
         run, so inhibitions hold); --json prints the comparison as one JSON object. Stored
         events have passed the pipeline's processors, so they go straight to the rules; their
         attributes come back as strings. Embedded ClickHouse can be open in one process only:
         stop the daemon, or backtest a copy of its data dir.
  lint   checks the rules, summarises them and warns about likely mistakes

Examples:
  vigil rules test --config config/vigil.yaml --events events.ndjson
  vigil rules test --config config/vigil.yaml --events events.ndjson --format json --after 1h
  vigil rules backtest --config config/vigil.yaml --since 7d
  vigil rules backtest --config new-rules.yaml --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z --rules service_errors --json
  vigil rules lint --config config/vigil.yaml`,
  tickets: `Usage: vigil tickets list [--config FILE] [--data-dir DIR] [--exporter ID]
       vigil tickets retry (--id ID | --all) [--config FILE] [--data-dir DIR] [--exporter ID]

A change a tracker refused (HTTP 400) or that kept failing for delivery.max_attempts is parked;
the later changes of its incident wait behind it, in order, so a ticket is never updated or
solved before it exists.

  list    prints the parked and waiting changes of every GLPI, Jira and webhook exporter (or
          one): exporter, id, incident key, kind, attempts, when parked, last error. It only
          reads the outbox files, so it is safe while the daemon runs.
  retry   asks for parked changes to be delivered again, the waiting ones after them. The
          request goes to a file in the outbox directory: a running daemon takes it within
          2 s; a stopped one at its next start. Fix the cause first (e.g. the tracker config).

Options:
  -c, --config FILE    read the data dir from this config (default: config/vigil.yaml)
      --data-dir DIR   the daemon's data dir (overrides the config's service.data_dir)
      --exporter ID    only this exporter, e.g. glpi or jira/ops
      --id ID          retry the parked change with this id (from tickets list)
      --all            retry every parked change

Examples:
  vigil tickets list --data-dir /var/lib/vigil
  vigil tickets retry --exporter glpi --id 42
  vigil tickets retry --all --config /etc/vigil/vigil.yaml`,
  apikey: APIKEY_HELP,
  'config-docs': `Usage: vigil config-docs [--write FILE]

Prints the configuration reference (Markdown), generated from the schema; --write replaces the
reference section of FILE.

Examples:
  vigil config-docs > reference.md
  vigil config-docs --write README.md`,
  version: `Usage: vigil version

Prints the version.`,
};

/**
 * How long a daemon that failed to start may spend releasing what it had opened (spool files,
 * the embedded database's lock) before it exits anyway: nothing was ever ready, so nothing waits.
 */
const FAILED_START_CLEANUP_MS = 5000;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** SIGHUP: renewed certificates are served to new connections; a listener whose files fail keeps its own. */
function reloadCertificates(logger: Logger): void {
  const results = reloadTlsListeners();
  if (results.length === 0) return;
  const failed = results.filter((r) => r.error !== undefined);
  for (const f of failed)
    logger.error(
      { cert_file: f.cert_file, err: f.error },
      'TLS certificate reload failed; the listener keeps serving its previous certificate',
    );
  logger.info({ signal: 'SIGHUP', listeners: results.length, failed: failed.length }, 'TLS certificates reloaded');
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' } },
  });
  const file = values.config ?? resolve(import.meta.dirname, '../config/vigil.yaml');
  const config = loadConfigFile(file, registry);
  const dataDir = resolve(values['data-dir'] ?? config.service.data_dir ?? 'data');
  // The daemon's memory is limited: keep V8 from holding more than it needs, for the whole process.
  keepYoungGenerationSmall();
  const service = new VigilService(config, { dataDir, registry });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    service.logger.info({ signal }, 'signal received');
    stopping = service.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        service.logger.fatal({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Rules reload on SIGHUP or when the file's content changes; the rest of the config needs a restart.
  const watcher = new ConfigWatcher(file, {
    onChange: async (text, why) => {
      try {
        await service.reload(parseConfig(text, registry));
      } catch (err) {
        service.logger.error(
          { err: err instanceof ConfigError ? err.message : err, why },
          'config reload failed; keeping the rules in force',
        );
      }
    },
    onError: (err) => service.logger.warn({ err }, 'cannot watch the config file; reload with SIGHUP'),
  });
  // Watched from before the start, so an edit made the moment it reports started is not missed.
  process.on('SIGHUP', () => {
    reloadCertificates(service.logger);
    void watcher.check('SIGHUP', true);
  });
  if (Object.keys(config.connectors).length)
    await watcher
      .start()
      .catch((err: Error) => service.logger.warn({ err }, 'cannot watch the config file; reload with SIGHUP'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (err) {
    watcher.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      service.shutdown().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, FAILED_START_CLEANUP_MS))),
    ]);
    clearTimeout(timer);
    // The last line, and the only one about the cause: the message says what failed (a port in
    // use, a locked database, a refused schema); a stack trace would only bury it.
    const e = err as Error & { code?: unknown };
    service.logger.fatal(
      { ...(typeof e.code === 'string' ? { code: e.code } : {}) },
      `Vigil failed to start: ${e instanceof Error ? e.message : String(err)}`,
    );
    // Whatever start() left behind (a reconnecting client, a timer) must not keep a failed daemon alive.
    process.exit(1);
  }
  return new Promise<number>(() => undefined); // runs until a signal stops it
}

async function rules(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === 'backtest') return await rulesBacktest(args);
  if (sub !== 'test' && sub !== 'lint')
    throw new UsageError(
      sub === undefined
        ? 'needs "test", "backtest" or "lint"'
        : `unknown rules command "${sub}"; use "rules test", "rules backtest" or "rules lint"`,
    );
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      events: { type: 'string' },
      format: { type: 'string', default: 'table' },
      after: { type: 'string', default: '10m' },
      'data-dir': { type: 'string' },
    },
  });
  if (!values.config) throw new UsageError(`${sub} needs --config FILE`);
  const config = loadConfigFile(values.config, registry);
  if (!config.correlation) {
    process.stderr.write(`${values.config}: has no correlation: section\n`);
    return 1;
  }
  if (sub === 'lint') {
    const { lintRules } = await import('../src/correlation/lint.ts');
    const { summary, warnings } = lintRules(config.correlation);
    process.stdout.write(
      [
        ...summary,
        ...warnings.map((w) => `warning: ${w}`),
        `${values.config}: ${summary.length} rule(s) valid, ${warnings.length} warning(s)`,
      ].join('\n') + '\n',
    );
    return 0;
  }
  if (!values.events) throw new UsageError('test needs --events FILE (NDJSON, one event per line)');
  const after = parseDuration(values.after);
  if (after === undefined || after < 0)
    throw new UsageError(`--after ${JSON.stringify(values.after)} is not a duration; use e.g. 90s, 10m or 1h`);
  if (values.format !== 'table' && values.format !== 'json')
    throw new UsageError(`--format ${JSON.stringify(values.format)}: use table or json`);
  // Relative lookup tables (enrich) resolve against the data dir, as in the daemon.
  const dataDir = resolve(values['data-dir'] ?? config.service.data_dir ?? 'data');
  return await rulesTest(config, values.events, values.format === 'json', after, dataDir);
}

/** At most this many unreadable lines are listed under the timeline; the rest are counted. */
const MAX_LISTED_REJECTS = 100;

/** Resolves once stdout can take more, so a slow reader holds the replay back instead of memory filling up. */
function stdoutDrained(): Promise<unknown> | undefined {
  return process.stdout.writableNeedDrain ? once(process.stdout, 'drain') : undefined;
}

/**
 * `vigil rules test`: the events file is read line by line and every incident change printed as
 * it happens, so memory stays flat whatever the file's size; a progress bar shows on stderr when
 * it is a terminal.
 */
async function rulesTest(
  config: VigilConfig,
  events: string,
  json: boolean,
  afterMs: number,
  dataDir: string,
): Promise<number> {
  const { DaemonReplay, replayLines } = await import('../src/service/rulesReplay.ts');
  const { TIMELINE_HEADER, timelineRow, timelineSummary } = await import('../src/connectors/correlation/replay.ts');
  const progress = new ProgressBar(process.stderr, statSync(events).size);
  const read = { position: 0 };
  const write = (s: string) => void process.stdout.write(s);
  const timeline = new StreamingTable(TIMELINE_HEADER, write);
  let changes = 0;
  const replay = await DaemonReplay.open(config, registry, dataDir, (c) => {
    changes++;
    if (json) write(toJson(c) + '\n');
    else timeline.row(timelineRow(c));
  });
  const path = replay.path;
  if (!json && path.processors.length)
    write(
      `through ${path.pipeline}: ${path.receiver ? `${path.receiver} mapping, ` : ''}processors ${path.processors.join(', ')}\n`,
    );
  const listed: { line: number; reason: string }[] = [];
  let rejected = 0;
  let lines = 0;
  try {
    await replayLines(
      replay,
      fileLines(events, read),
      (line, reason) => {
        rejected++;
        if (json) {
          progress.clear();
          process.stderr.write(`${events}:${line}: ${reason}\n`);
        } else if (listed.length < MAX_LISTED_REJECTS) listed.push({ line, reason });
      },
      () => {
        progress.update(++lines, read.position);
        return stdoutDrained();
      },
    );
  } catch (err) {
    progress.clear();
    await replay.close();
    throw err;
  }
  const stats = await replay.finish(afterMs);
  progress.done(lines, read.position);
  if (!json) {
    timeline.flush();
    write(['', ...timelineSummary(stats, changes, listed, rejected - listed.length)].join('\n') + '\n');
  }
  return rejected ? 1 : 0;
}

/** `--since 7d` (that long before now) or an ISO 8601 time, in ms since the epoch. */
function pointInTime(option: string, text: string, nowMs: number): number {
  const ago = parseDuration(text);
  if (ago !== undefined) return nowMs - ago;
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at))
    throw new UsageError(
      `${option} ${JSON.stringify(text)}: use a duration back from now (e.g. 7d, 12h) or an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)`,
    );
  return at;
}

const DIFF_HEADER = ['', 'incident', 'opened', 'resolved', 'events', 'what differs'];

function outlineRow(mark: string, i: IncidentOutline, what: string): string[] {
  const time = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : 'open');
  return [mark, i.key, time(i.openedAtMs), time(i.resolvedAtMs), String(i.eventCount), what];
}

/**
 * `vigil rules backtest`: the stored events of a time range through the config's rules, and
 * what they would have opened against what was opened.
 */
async function rulesBacktest(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      since: { type: 'string' },
      until: { type: 'string' },
      rules: { type: 'string' },
      json: { type: 'boolean' },
      'data-dir': { type: 'string' },
    },
  });
  if (!values.config) throw new UsageError('backtest needs --config FILE');
  if (!values.since) throw new UsageError('backtest needs --since, e.g. --since 7d');
  const nowMs = Date.now();
  const fromMs = pointInTime('--since', values.since, nowMs);
  const toMs = values.until === undefined ? nowMs : pointInTime('--until', values.until, nowMs);
  if (fromMs >= toMs) throw new UsageError(`--since must come before --until (${new Date(toMs).toISOString()})`);
  const config = loadConfigFile(values.config, registry);
  if (!config.correlation) throw new CommandFailure(`${values.config}: has no correlation: section`);
  const names = config.correlation.rules.map((r) => r.name);
  const rules = values.rules?.split(',').map((r) => r.trim());
  const unknown = rules?.filter((r) => !names.includes(r)) ?? [];
  if (unknown.length)
    throw new UsageError(
      `--rules: no rule named ${unknown.map((r) => `"${r}"`).join(', ')} (the config has: ${names.join(', ')})`,
    );
  const { backtestRules, storingExporter } = await import('../src/service/rulesBacktest.ts');
  if (!storingExporter(config))
    throw new CommandFailure(
      `${values.config}: no clickhouse exporter in a logs pipeline; the backtest reads the events it stores`,
    );
  const dataDir = resolve(values['data-dir'] ?? config.service.data_dir ?? 'data');
  const progress = new ProgressBar(process.stderr, 0, { position: (_, total) => `of ${total}` });
  let result: BacktestResult;
  try {
    result = await backtestRules(config, registry, dataDir, {
      fromMs,
      toMs,
      ...(rules ? { rules } : {}),
      progress: (done, total) => {
        progress.total = total;
        progress.update(done, done);
      },
    });
  } catch (err) {
    progress.clear();
    throw err;
  }
  progress.done(result.events, result.events);
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  }
  const rows = [
    ...result.new.map((i) => outlineRow('new', i, 'would open; nothing did')),
    ...result.missing.map((i) => outlineRow('missing', i, 'opened; would not open')),
    ...result.changed.map((c) => outlineRow('changed', c.backtest, c.differences.join(', '))),
  ];
  process.stdout.write(
    (rows.length ? table([DIFF_HEADER, ...rows]) + '\n' : '') +
      `${result.events} stored event(s) from ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()} (exporter ${result.exporter}): ${result.new.length} new, ${result.missing.length} missing, ${result.changed.length} changed, ${result.same} the same\n`,
  );
  return 0;
}

/** A change for `routes test`: incident fields by name (`severity`, `rule`, `service`, `asset`, `tenant`, `kind`), other names as labels. */
function changeFromLabels(pairs: string[], atMs: number): IncidentChange {
  const labels: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`"${p}" is not a label; write name=value, e.g. severity=error service=billing`);
    labels[p.slice(0, eq)] = p.slice(eq + 1);
  }
  // Alertmanager users name the rule `alertname`: it stays a label (matchers read it so) and names the rule.
  const {
    severity = 'error',
    rule = labels.alertname ?? '',
    service = '',
    asset = '',
    tenant = '',
    kind = 'opened',
    ...rest
  } = labels;
  const severityNumber = /^\d+$/.test(severity) ? Number(severity) : severityFromText(severity);
  if (severityNumber === 0)
    throw new UsageError(`severity=${severity}: use a level (trace, debug, info, warn, error, fatal) or a number 1–24`);
  const incident: IncidentChange['incident'] = {
    key: '',
    id: '',
    rule,
    ruleKind: '',
    labels: rest,
    title: '',
    status: 'open',
    severityNumber,
    severityText: severity.toUpperCase(),
    suppressed: false,
    suppressedBy: '',
    openedAtMs: atMs,
    updatedAtMs: atMs,
    resolvedAtMs: 0,
    firstSeenMs: atMs,
    lastSeenMs: atMs,
    eventCount: 1,
    sampleEventIds: [],
    lastEventType: 'neutral',
    tenant,
    asset,
    service,
    version: 1,
    audit: [],
  };
  return { kind: kind as IncidentChange['kind'], reason: '', atMs, incident, notify: true, eventIds: [] };
}

/** A grouping route's lines in `routes test`: what it groups by, the incident's group key, the group's timers. */
function describeGroup(g: RouteGrouping, incident: IncidentChange['incident']): string {
  const by = g.by === 'all' ? `[${ALL_LABELS}] (every label)` : `[${g.by.join(', ')}]`;
  return [
    `  group_by ${by}`,
    `  group ${groupOf(g, incident).key}`,
    `  group_wait ${formatDuration(g.waitMs)}, group_interval ${formatDuration(g.intervalMs)}, repeat_interval ${formatDuration(g.repeatMs)}`,
    '',
  ].join('\n');
}

function routes(argv: string[]): number {
  const [sub, ...args] = argv;
  if (sub !== 'test')
    throw new UsageError(sub === undefined ? 'needs "test"' : `unknown routes command "${sub}"; use "routes test"`);
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, at: { type: 'string' }, 'verify-receivers': { type: 'string' } },
  });
  if (!values.config) throw new UsageError('test needs --config FILE');
  const atMs = values.at === undefined ? Date.now() : Date.parse(values.at);
  if (Number.isNaN(atMs))
    throw new UsageError(
      `--at ${JSON.stringify(values.at)} is not a time; use ISO 8601, e.g. 2026-12-05T22:30:00+01:00`,
    );
  const config = loadConfigFile(values.config, registry);
  if (!config.routing)
    throw new CommandFailure(`${values.config}: has no routing: section (each exporter's own routes decide)`);
  const change = changeFromLabels(positionals, atMs);
  const matched = config.routing.match(change, atMs);
  for (const m of matched) {
    process.stdout.write(
      `${m.path.join(' > ')}\n  receiver ${m.receiver}: ${m.exporters.join(', ') || '(no exporters)'}${m.muted ? ' (muted now; resolutions still go out)' : ''}\n`,
    );
    if (m.grouping) process.stdout.write(describeGroup(m.grouping, change.incident));
  }
  const receivers = matched.map((m) => m.receiver).join(',');
  process.stdout.write(`${receivers}\n`);
  if (values['verify-receivers'] !== undefined && values['verify-receivers'] !== receivers) {
    throw new CommandFailure(`receivers "${receivers}" are not the expected "${values['verify-receivers']}"`);
  }
  return 0;
}

const TICKETS_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  exporter: { type: 'string' },
  id: { type: 'string' },
  all: { type: 'boolean' },
} as const;

/** The outbox directory of every incident exporter under the data dir (or the one asked for), by id. */
async function outboxDirs(values: {
  config?: string;
  'data-dir'?: string;
  exporter?: string;
}): Promise<Map<string, string>> {
  const { INCIDENT_EXPORTERS_DIR, incidentExporterDir } = await import('../src/exporters/tickets/incidentExporter.ts');
  const dataDir = resolve(
    values['data-dir'] ??
      loadConfigFile(values.config ?? resolve(import.meta.dirname, '../config/vigil.yaml'), registry).service
        .data_dir ??
      'data',
  );
  let ids: string[];
  try {
    ids = readdirSync(resolve(dataDir, INCIDENT_EXPORTERS_DIR)).map((name) => decodeURIComponent(name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new CommandFailure(
      `${dataDir}: no ticket outbox here (no GLPI, Jira or webhook exporter has run with this data dir; see --data-dir)`,
    );
  }
  if (values.exporter !== undefined && !ids.includes(values.exporter)) {
    throw new CommandFailure(
      `no outbox for exporter "${values.exporter}" in ${dataDir} (there are: ${ids.sort().join(', ') || 'none'})`,
    );
  }
  const dirs = new Map<string, string>();
  for (const id of ids.sort())
    if (values.exporter === undefined || id === values.exporter) dirs.set(id, incidentExporterDir(dataDir, id));
  return dirs;
}

function stuckRow(exporter: string, e: StuckEntry<IncidentChange>): string[] {
  const state = e.parked
    ? [String(e.parked.attempts), new Date(e.parked.atMs).toISOString(), e.parked.reason.replace(/\s+/g, ' ')]
    : ['-', '-', `waiting on ${e.waitsOn}`];
  return [exporter, String(e.seq), e.key, e.payload.kind, ...state];
}

async function tickets(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub !== 'list' && sub !== 'retry')
    throw new UsageError(
      sub === undefined
        ? 'needs "list" or "retry"'
        : `unknown tickets command "${sub}"; use "tickets list" or "tickets retry"`,
    );
  const { values } = parseArgs({ args, options: TICKETS_OPTIONS });
  if (sub === 'list' && (values.id !== undefined || values.all)) throw new UsageError('list takes no --id or --all');
  if (sub === 'retry' && (values.id === undefined) === !values.all)
    throw new UsageError('retry needs --id ID or --all (one of them)');
  const seq = values.id === undefined ? undefined : Number(values.id);
  if (seq !== undefined && !(Number.isInteger(seq) && seq > 0))
    throw new UsageError(`--id ${JSON.stringify(values.id)}: use an id from "vigil tickets list" (a positive integer)`);
  const stuck = new Map<string, { dir: string; entries: StuckEntry<IncidentChange>[] }>();
  const { readStuckEntries, requestRetry } = await import('../src/exporters/tickets/outboxJournal.ts');
  for (const [id, dir] of await outboxDirs(values))
    stuck.set(id, { dir, entries: await readStuckEntries<IncidentChange>(dir) });
  if (sub === 'list') {
    const rows = [...stuck].flatMap(([id, s]) => s.entries.map((e) => stuckRow(id, e)));
    if (rows.length === 0) process.stdout.write('no parked or waiting incident changes\n');
    else
      process.stdout.write(
        table([['exporter', 'id', 'incident', 'kind', 'attempts', 'parked at', 'last error'], ...rows]),
      );
    return 0;
  }
  const targets = [...stuck].filter(([, s]) => s.entries.some((e) => e.parked && (seq === undefined || e.seq === seq)));
  if (seq !== undefined && targets.length === 0) {
    const waiting = [...stuck.values()].flatMap((s) => s.entries).find((e) => e.seq === seq);
    throw new CommandFailure(
      waiting
        ? `change ${seq} is not parked: it waits behind parked change ${waiting.waitsOn}; retry that one`
        : `no parked change with id ${seq} (see vigil tickets list)`,
    );
  }
  if (seq !== undefined && targets.length > 1)
    throw new UsageError(`id ${seq} is parked in ${targets.map(([id]) => id).join(' and ')}; name one with --exporter`);
  if (targets.length === 0) {
    process.stdout.write('no parked incident changes to retry\n');
    return 0;
  }
  for (const [id, s] of targets) {
    const parked = s.entries.filter((e) => e.parked && (seq === undefined || e.seq === seq));
    const behind = s.entries.filter((e) => parked.some((p) => p.seq === e.waitsOn)).length;
    await requestRetry(s.dir, seq === undefined ? [{ all: true }] : [{ seq }]);
    process.stdout.write(
      `${id}: retry requested for ${parked.length} parked change(s) and the ${behind} waiting behind them; a running daemon sends them within 2 s, a stopped one at its next start\n`,
    );
  }
  return 0;
}

/** The help a `--help` anywhere in argv asks for: the command's, or the overview. */
function helpFor(command: string | undefined): string {
  return (command && HELP[command]) || USAGE;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (argv.includes('--help') || argv.includes('-h') || command === 'help') {
    process.stdout.write(helpFor(command === 'help' ? rest[0] : command) + '\n');
    return 0;
  }
  switch (command) {
    case 'run':
      return await run(rest);
    case 'validate': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
      if (!values.config) throw new UsageError('needs --config FILE');
      loadConfigFile(values.config, registry);
      process.stdout.write(`${values.config}: configuration is valid\n`);
      return 0;
    }
    case 'rules':
      return await rules(rest);
    case 'tickets':
      return await tickets(rest);
    case 'routes':
      return routes(rest);
    case 'apikey':
      return await apikey(rest);
    case 'config-docs': {
      const { values } = parseArgs({ args: rest, options: { write: { type: 'string' } } });
      const reference = renderConfigReference(registry);
      if (!values.write) process.stdout.write(reference);
      else writeFileSync(values.write, spliceReference(readFileSync(values.write, 'utf8'), reference));
      return 0;
    }
    case 'version':
    case '--version':
      parseArgs({ args: rest, options: {} });
      process.stdout.write(`vigil ${version()}\n`);
      return 0;
    case undefined:
      process.stderr.write(USAGE + '\n');
      return 2;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Errors a user can fix by changing how they call Vigil or which file they name: one line, no stack. */
function userError(err: unknown): { message: string; code: number } | undefined {
  if (err instanceof UsageError) return { message: err.message, code: 2 };
  if (err instanceof ConfigError || err instanceof CommandFailure) return { message: err.message, code: 1 };
  const code = (err as { code?: unknown }).code;
  // node:util parseArgs: unknown option, missing value, an option value that looks like an option (--after -5m).
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    const first = (err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, '');
    const hint =
      code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && /ambiguous/.test(first)
        ? '; a value may not start with "-" (durations are positive, e.g. 5m)'
        : '';
    return { message: first.replace(/\.$/, '') + hint, code: 2 };
  }
  const path = (err as { path?: unknown }).path;
  if (typeof path === 'string' && (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR')) {
    const what =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : 'a parent is not a directory';
    return { message: `${path}: ${what}`, code: 1 };
  }
  return undefined;
}

// `vigil rules test … | head -1`: a reader that goes away ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

async function cli(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  try {
    return await main(args);
  } catch (err) {
    const known = userError(err);
    const command = args[0] && HELP[args[0]] ? ` ${args[0]}` : '';
    if (known) {
      process.stderr.write(
        `vigil${command}: ${known.message}${known.code === 2 ? ` (see vigil${command} --help)` : ''}\n`,
      );
      if (debug) process.stderr.write(`${(err as Error).stack}\n`);
      return known.code;
    }
    process.stderr.write(
      debug
        ? `${(err as Error).stack ?? String(err)}\n`
        : `vigil${command}: ${(err as Error).message ?? String(err)} (run with --debug for details)\n`,
    );
    return 1;
  }
}

process.exitCode = await cli(process.argv.slice(2));
