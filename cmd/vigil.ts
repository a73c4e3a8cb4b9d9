#!/usr/bin/env node
// First: later modules must load into a process whose objects have no __proto__ accessor.
import '../src/service/hardening.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { registry } from '../src/components.ts';
import { renderConfigReference, spliceReference } from '../src/config/docs.ts';
import { loadConfigFile, parseConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { ConfigWatcher } from '../src/service/configWatcher.ts';
import { VigilService } from '../src/service/service.ts';
import { lintRules } from '../src/correlation/lint.ts';
import { formatTimeline, replay } from '../src/connectors/correlation/replay.ts';
import { parseDuration } from '../src/config/schema.ts';
import { toJson } from '../src/model/attributes.ts';

const USAGE = `Usage:
  vigil run [--config FILE] [--data-dir DIR]   run the daemon (default config: config/vigil.yaml)
  vigil validate --config FILE                 check a config; exit 1 listing every error
  vigil rules test --config FILE --events EVENTS.ndjson [--format table|json] [--after 10m]
                                               replay events through the correlation rules on a virtual clock
  vigil rules lint --config FILE               check the correlation rules and warn about likely mistakes
  vigil config-docs [--write README.md]        print the configuration reference (Markdown), or refresh it in a file
  vigil version                                print the version`;

/**
 * How long a daemon that failed to start may spend releasing what it had opened (spool files,
 * the embedded database's lock) before it exits anyway: nothing was ever ready, so nothing waits.
 */
const FAILED_START_CLEANUP_MS = 5000;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' } } });
  const file = values.config ?? resolve(import.meta.dirname, '../config/vigil.yaml');
  const config = loadConfigFile(file, registry);
  const dataDir = resolve(values['data-dir'] ?? config.service.data_dir ?? 'data');
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
        service.logger.error({ err: err instanceof ConfigError ? err.message : err, why }, 'config reload failed; keeping the rules in force');
      }
    },
    onError: (err) => service.logger.warn({ err }, 'cannot watch the config file; reload with SIGHUP'),
  });
  // Watched from before the start, so an edit made the moment it reports started is not missed.
  process.on('SIGHUP', () => void watcher.check('SIGHUP', true));
  if (Object.keys(config.connectors).length) await watcher.start().catch((err: Error) => service.logger.warn({ err }, 'cannot watch the config file; reload with SIGHUP'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (err) {
    watcher.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([service.shutdown().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, FAILED_START_CLEANUP_MS)))]);
    clearTimeout(timer);
    // The last line, and the only one about the cause: the message says what failed (a port in
    // use, a locked database, a refused schema); a stack trace would only bury it.
    const e = err as Error & { code?: unknown };
    service.logger.fatal({ ...(typeof e.code === 'string' ? { code: e.code } : {}) }, `Vigil failed to start: ${e instanceof Error ? e.message : String(err)}`);
    // Whatever start() left behind (a reconnecting client, a timer) must not keep a failed daemon alive.
    process.exit(1);
  }
  return new Promise<number>(() => undefined); // runs until a signal stops it
}

function rules(argv: string[]): number {
  const [sub, ...args] = argv;
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, events: { type: 'string' }, format: { type: 'string', default: 'table' }, after: { type: 'string', default: '10m' } } });
  if ((sub !== 'test' && sub !== 'lint') || !values.config) {
    process.stderr.write(`vigil rules: use "rules test --config FILE --events EVENTS.ndjson" or "rules lint --config FILE"\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfigFile(values.config, registry);
  if (!config.correlation) {
    process.stderr.write(`${values.config}: has no correlation: section\n`);
    return 1;
  }
  if (sub === 'lint') {
    const { summary, warnings } = lintRules(config.correlation);
    process.stdout.write([...summary, ...warnings.map((w) => `warning: ${w}`), `${values.config}: ${summary.length} rule(s) valid, ${warnings.length} warning(s)`].join('\n') + '\n');
    return 0;
  }
  const after = parseDuration(values.after);
  if (!values.events || after === undefined || (values.format !== 'table' && values.format !== 'json')) {
    process.stderr.write('vigil rules test: needs --events FILE, --format table|json and --after as a duration such as 10m\n');
    return 2;
  }
  const result = replay(config.correlation, readFileSync(values.events, 'utf8'), after);
  if (values.format === 'json') {
    for (const c of result.changes) process.stdout.write(toJson(c) + '\n');
    for (const r of result.rejected) process.stderr.write(`${values.events}:${r.line}: ${r.reason}\n`);
  } else process.stdout.write(formatTimeline(result));
  return result.rejected.length ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(rest);
      case 'validate': {
        const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
        if (!values.config) {
          process.stderr.write('vigil validate: --config FILE is required\n');
          return 2;
        }
        loadConfigFile(values.config, registry);
        process.stdout.write(`${values.config}: configuration is valid\n`);
        return 0;
      }
      case 'rules':
        return rules(rest);
      case 'config-docs': {
        const { values } = parseArgs({ args: rest, options: { write: { type: 'string' } } });
        const reference = renderConfigReference(registry);
        if (!values.write) process.stdout.write(reference);
        else writeFileSync(values.write, spliceReference(readFileSync(values.write, 'utf8'), reference));
        return 0;
      }
      case 'version':
      case '--version':
        process.stdout.write(`vigil ${version()}\n`);
        return 0;
      default:
        process.stderr.write(`${command ? `unknown command "${command}"\n` : ''}${USAGE}\n`);
        return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
