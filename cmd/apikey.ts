import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { registry } from '../src/components.ts';
import { loadConfigFile } from '../src/service/config/load.ts';
import {
  API_KEY_NAME,
  apiKeysPath,
  generateApiKey,
  hashApiKey,
  KeysFileError,
  readKeysFile,
  updateKeysFile,
  type ApiKeyEntry,
} from '../src/extensions/auth/apiKeys.ts';
import type { AuthenticatorConfig } from '../src/extensions/auth/config.ts';
import { roles, type Role } from '../src/extensions/auth/principal.ts';
import { CommandFailure, table, UsageError } from './cliSupport.ts';

export const APIKEY_HELP = `Usage: vigil apikey create --name NAME --role viewer|operator|admin [--tenant TENANT] [options]
       vigil apikey list [options]
       vigil apikey revoke --name NAME [options]

API keys let machines (CI jobs, scripts, senders) call Vigil without an identity provider. A
key is sent as "Authorization: Bearer vgk_…", like a JWT. Only a SHA-256 hash of it is stored,
in the keys file of the config's authenticator extension (api_keys.file, default apikeys.json
in the data dir); a running daemon sees every change at once.

  create  makes a key with a name, a role and optionally a tenant (the tenant its data is
          stamped with and the only one it sees). The key is printed once, on stdout: keep it
          in your secret store, it cannot be shown again. A revoked key's name may be reused.
  list    shows every key: name, role, tenant, first characters, created, revoked.
  revoke  refuses the key from now on; it stays listed as revoked.

Options:
  -c, --config FILE          the config naming the authenticator (default: config/vigil.yaml)
      --data-dir DIR         the daemon's data dir (overrides the config's service.data_dir)
      --authenticator ID     which authenticator extension, when the config has several

Examples:
  vigil apikey create --name ci-deploy --role operator --config /etc/vigil/vigil.yaml
  vigil apikey create --name edge-7 --role viewer --tenant team-a
  vigil apikey list
  vigil apikey revoke --name ci-deploy`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  authenticator: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  tenant: { type: 'string' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: string };

/** The keys file of the config's authenticator, as the daemon would resolve it. */
function keysFile(values: Values): string {
  const configFile = values.config ?? resolve(import.meta.dirname, '../config/vigil.yaml');
  const config = loadConfigFile(configFile, registry);
  const dataDir = resolve(values['data-dir'] ?? config.service.data_dir ?? 'data');
  const withKeys = Object.values(config.extensions).filter(
    (c) => c.type === 'authenticator' && (c.config as AuthenticatorConfig).api_keys,
  );
  if (values.authenticator !== undefined) {
    const chosen = config.extensions[values.authenticator];
    if (!chosen || chosen.type !== 'authenticator')
      throw new CommandFailure(
        `${configFile}: no authenticator extension "${values.authenticator}" (there are: ${withKeys.map((c) => c.id).join(', ') || 'none'})`,
      );
    if (!(chosen.config as AuthenticatorConfig).api_keys)
      throw new CommandFailure(`${configFile}: extensions.${chosen.id} takes no API keys; add "api_keys: {}" to it`);
    return apiKeysPath(dataDir, (chosen.config as AuthenticatorConfig).api_keys!.file);
  }
  if (withKeys.length === 0)
    throw new CommandFailure(
      `${configFile}: no authenticator extension takes API keys; add one with "api_keys: {}" (see docs/security.md)`,
    );
  if (withKeys.length > 1)
    throw new UsageError(
      `${configFile} has several authenticators with API keys (${withKeys.map((c) => c.id).join(', ')}); name one with --authenticator`,
    );
  return apiKeysPath(dataDir, (withKeys[0]!.config as AuthenticatorConfig).api_keys!.file);
}

function requireName(values: Values, sub: string): string {
  if (values.name === undefined) throw new UsageError(`${sub} needs --name NAME`);
  if (!API_KEY_NAME.test(values.name))
    throw new UsageError(
      `--name ${JSON.stringify(values.name)}: use 1 to 64 letters, digits and . _ - @, starting with a letter or digit`,
    );
  return values.name;
}

export async function apikey(argv: string[]): Promise<number> {
  try {
    return await apikeyCommand(argv);
  } catch (err) {
    // A damaged or locked keys file is something to fix by hand, said in one line.
    if (err instanceof KeysFileError) throw new CommandFailure(err.message);
    throw err;
  }
}

async function apikeyCommand(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub !== 'create' && sub !== 'list' && sub !== 'revoke')
    throw new UsageError(
      sub === undefined
        ? 'needs "create", "list" or "revoke"'
        : `unknown apikey command "${sub}"; use create, list or revoke`,
    );
  const { values } = parseArgs({ args, options: OPTIONS });
  if (sub !== 'create' && (values.role !== undefined || values.tenant !== undefined))
    throw new UsageError(`${sub} takes no --role or --tenant`);
  if (sub === 'list' && values.name !== undefined) throw new UsageError('list takes no --name');
  const name = sub === 'list' ? undefined : requireName(values, sub);
  let role: Role | undefined;
  if (sub === 'create') {
    if (values.role === undefined) throw new UsageError('create needs --role viewer|operator|admin');
    if (!roles.includes(values.role as Role))
      throw new UsageError(`--role ${JSON.stringify(values.role)}: use viewer, operator or admin`);
    role = values.role as Role;
    if (values.tenant !== undefined && values.tenant.trim() === '')
      throw new UsageError('--tenant must not be empty (leave it out for no tenant)');
  }
  const file = keysFile(values);

  if (sub === 'list') {
    const entries = await readKeysFile(file);
    if (entries.length === 0) process.stdout.write(`no API keys in ${file}\n`);
    else
      process.stdout.write(
        table([
          ['name', 'role', 'tenant', 'key', 'created', 'revoked'],
          ...entries.map((e) => [e.name, e.role, e.tenant ?? '-', `${e.hint}…`, e.created_at, e.revoked_at ?? '-']),
        ]),
      );
    return 0;
  }
  if (sub === 'revoke') {
    await updateKeysFile(file, (entries) => {
      const live = entries.find((e) => e.name === name && !e.revoked_at);
      if (!live)
        throw new CommandFailure(
          entries.some((e) => e.name === name)
            ? `API key "${name}" is already revoked`
            : `no API key named "${name}" in ${file} (see vigil apikey list)`,
        );
      live.revoked_at = new Date().toISOString();
      return { entries, result: undefined };
    });
    process.stdout.write(`API key "${name}" revoked; a running daemon refuses it from now on\n`);
    return 0;
  }
  const key = generateApiKey();
  await updateKeysFile(file, (entries) => {
    if (entries.some((e) => e.name === name && !e.revoked_at))
      throw new CommandFailure(`an API key named "${name}" exists; revoke it first or choose another name`);
    const entry: ApiKeyEntry = {
      name: name!,
      role: role!,
      ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
      hash: hashApiKey(key),
      hint: key.slice(0, 8),
      created_at: new Date().toISOString(),
    };
    // A revoked key of the same name makes way: its name is free again.
    return { entries: [...entries.filter((e) => e.name !== name), entry], result: undefined };
  });
  process.stdout.write(`${key}\n`);
  process.stderr.write(
    `API key "${name}" (${role}${values.tenant !== undefined ? `, tenant ${values.tenant}` : ''}) stored as a hash in ${file}; this is the only time it is shown\n`,
  );
  return 0;
}
