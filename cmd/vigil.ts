#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { registry } from '../src/components.ts';
import { renderConfigReference, spliceReference } from '../src/config/docs.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { VigilService } from '../src/service/service.ts';

const USAGE = `Usage:
  vigil run [--config FILE] [--data-dir DIR]   run the daemon (default config: config/vigil.yaml)
  vigil validate --config FILE                 check a config; exit 1 listing every error
  vigil config-docs [--write README.md]        print the configuration reference (Markdown), or refresh it in a file
  vigil version                                print the version`;

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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (err) {
    service.logger.fatal({ err }, 'Vigil failed to start');
    await service.shutdown().catch(() => undefined);
    return 1;
  }
  return new Promise<number>(() => undefined); // runs until a signal stops it
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
