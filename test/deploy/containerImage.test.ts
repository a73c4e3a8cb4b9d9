import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npmCiCommand, parseCopy, parseDockerfile, stageChain, type Stage } from '../../cmd/image/dockerfile.ts';
import { assembleRuntimeTree } from '../../cmd/image/runtime-tree.ts';
import { startChdbHttpServer, type ChdbHttpServer } from '../support/chdbHttpServer.ts';
import { waitFor } from '../support/waitFor.ts';

/**
 * No Docker daemon or registry here: the Dockerfile is checked statically, and the slim
 * variant's runtime stage is assembled for real (cmd/image/runtime-tree.ts does what its COPY and
 * npm ci lines do) and started against a ClickHouse server.
 */
const root = resolve(import.meta.dirname, '../..');
const { stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const args = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).map((i) => i.args);
const VARIANTS = ['full', 'slim'];

describe('Dockerfile', () => {
  it('builds a full and a slim variant on one runtime stage, full by default', () => {
    expect(stages.map((s) => s.name)).toEqual(['deps-full', 'deps-slim', 'runtime', 'slim', 'full']);
    expect(stages.at(-1)!.name).toBe('full');
    for (const v of VARIANTS) expect(stageChain(stages, v).map((s) => s.name)).toEqual(['runtime', v]);
    const npmCi = (name: string) =>
      args(
        stages.find((s) => s.name === name)!,
        'RUN',
      )
        .map(npmCiCommand)
        .find(Boolean);
    expect(npmCi('deps-full')).toMatch(/^npm ci --omit=dev /);
    expect(npmCi('deps-slim')).toMatch(/^npm ci --omit=dev --omit=optional /);
    const from = (v: string) =>
      args(
        stages.find((s) => s.name === v)!,
        'COPY',
      )
        .map(parseCopy)
        .find((c) => c.from)!;
    expect(from('full')).toEqual({ from: 'deps-full', sources: ['/app/node_modules'], dest: './node_modules' });
    expect(from('slim')).toEqual({ from: 'deps-slim', sources: ['/app/node_modules'], dest: './node_modules' });
  });

  it('runs without npm, as a non-root user, under tini, with a health check and OCI labels', () => {
    for (const v of VARIANTS) {
      const chain = stageChain(stages, v);
      const runs = chain.flatMap((s) => args(s, 'RUN'));
      expect(runs.join('\n'), v).not.toMatch(/(^|&&\s*)npm /m);
      expect(runs.join('\n'), v).toMatch(/rm -rf [^&]*\/usr\/local\/lib\/node_modules [^&]*\/usr\/local\/bin\/npm /);
      const users = chain.flatMap((s) => args(s, 'USER'));
      expect(users.at(-1), v).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
      const entrypoint = JSON.parse(chain.flatMap((s) => args(s, 'ENTRYPOINT')).at(-1)!) as string[];
      expect(entrypoint.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
      expect(runs.join('\n')).toMatch(/apt-get install -y --no-install-recommends tini/);
      // The entry point is a file the image carries: /app is WORKDIR, cmd/ is copied there.
      expect(entrypoint[3]).toBe('/app/cmd/vigil.ts');
      expect(existsSync(join(root, 'cmd/vigil.ts'))).toBe(true);
      expect(chain.flatMap((s) => args(s, 'HEALTHCHECK')).at(-1)).toMatch(/CMD .*http:\/\/127\.0\.0\.1:8080\/healthz/);
      expect(chain.flatMap((s) => args(s, 'VOLUME')).at(-1)).toBe('["/var/lib/vigil"]');
      const labels = chain.flatMap((s) => args(s, 'LABEL')).join(' ');
      for (const key of ['title', 'description', 'version', 'revision', 'created', 'source', 'licenses'])
        expect(labels, key).toContain(`org.opencontainers.image.${key}=`);
      const cmd = JSON.parse(chain.flatMap((s) => args(s, 'CMD')).at(-1)!) as string[];
      expect(cmd).toEqual(['run', '--config', '/etc/vigil/vigil.yaml', '--data-dir', '/var/lib/vigil']);
    }
  });

  it("ships each variant's default config, valid, the slim one without embedded ClickHouse", () => {
    const configs = Object.fromEntries(
      VARIANTS.map((v) => {
        const copy = stages
          .find((s) => s.name === v)!
          .instructions.filter((i) => i.op === 'COPY')
          .map((i) => parseCopy(i.args))
          .find((c) => c.dest === '/etc/vigil/vigil.yaml')!;
        return [v, copy.sources[0]!];
      }),
    );
    expect(configs).toEqual({ full: 'config/vigil.yaml', slim: 'config/vigil-slim.yaml' });
    for (const file of Object.values(configs)) {
      const r = spawnSync(process.execPath, [join(root, 'cmd/vigil.ts'), 'validate', '--config', join(root, file)], {
        encoding: 'utf8',
      });
      expect(r.stdout, r.stderr).toContain('configuration is valid');
    }
    expect(readFileSync(join(root, configs.slim!), 'utf8')).not.toMatch(/^ {2}clickhouse:/m);
  });

  it('is built, both variants, by cmd/image/build-image.sh', () => {
    const script = readFileSync(join(root, 'cmd/image/build-image.sh'), 'utf8');
    expect(script).toContain('for target in full slim; do');
    expect(script).toMatch(/build --target "\$target"/);
    // Docker when there is one, else buildah (in Docker's format, which keeps the HEALTHCHECK).
    expect(script).toMatch(/! docker info .*command -v buildah/);
    expect(script).toContain('--format docker');
    // Behind a TLS-inspecting proxy npm ci trusts its CA, passed as a build secret (not a layer).
    expect(script).toContain('--secret id=npm-ca,src=');
    for (const deps of ['deps-full', 'deps-slim'])
      expect(
        args(
          stages.find((s) => s.name === deps)!,
          'RUN',
        ).find((r) => npmCiCommand(r)),
        deps,
      ).toMatch(/^--mount=type=secret,id=npm-ca .*NODE_EXTRA_CA_CERTS=\/run\/secrets\/npm-ca/);
    // The base image can be assembled without a registry (Debian's packages and npm's).
    const base = readFileSync(join(root, 'cmd/image/build-base.sh'), 'utf8');
    expect(base).toContain('debootstrap --variant=minbase');
    expect(stages[0]!.base).toBe('${NODE_IMAGE}');
    // The labels' default version is the package's, for a plain docker build.
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(stageChain(stages, 'full').flatMap((s) => args(s, 'ARG'))).toEqual([
      `VERSION=${version}`,
      'REVISION=unknown',
      'CREATED=unknown',
    ]);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    for (const p of ['node_modules', '.git', 'data']) expect(ignored).toContain(p);
    const sources = stages.flatMap((s) => args(s, 'COPY').map(parseCopy)).filter((c) => !c.from);
    expect(sources.length).toBeGreaterThan(5);
    for (const c of sources)
      for (const src of c.sources) {
        expect(existsSync(join(root, src)), src).toBe(true);
        expect(
          ignored.some((i) => src === i || src.startsWith(`${i}/`)),
          `${src} is in .dockerignore`,
        ).toBe(false);
      }
  });
});

describe('the slim runtime tree', () => {
  let clickhouse: ChdbHttpServer | undefined;
  let daemon: ChildProcess | undefined;
  afterAll(async () => {
    daemon?.kill('SIGKILL');
    await clickhouse?.close();
  });

  it('has no chdb and runs vigil run storing events in a ClickHouse server', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vigil-slim-tree-'));
    const app = assembleRuntimeTree('slim', out);
    expect(existsSync(join(app, 'node_modules/fastify'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/chdb'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@chdb'))).toBe(false);
    expect(readFileSync(join(out, 'etc/vigil/vigil.yaml'), 'utf8')).toContain('no embedded ClickHouse');

    clickhouse = await startChdbHttpServer({ path: join(out, 'server') });
    const dataDir = join(out, 'data');
    const config = join(out, 'remote.yaml');
    writeFileSync(
      config,
      `
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse: { endpoint: ${clickhouse.url}, batch: { max_delay: 20ms } }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`,
    );
    const logs: string[] = [];
    daemon = spawn(process.execPath, [join(app, 'cmd/vigil.ts'), 'run', '--config', config, '--data-dir', dataDir], {
      cwd: out,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [daemon.stdout!, daemon.stderr!])
      s.on('data', (d: Buffer) => logs.push(...d.toString().split('\n')));
    let started: { msg?: string; http?: { port: number }[] } | undefined;
    await waitFor(
      () =>
        (started = logs
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg?: string; http?: { port: number }[] })
          .find((r) => r.msg === 'Vigil started')) !== undefined,
      "the slim tree's Vigil started",
      60_000,
    );
    const res = await fetch(`http://127.0.0.1:${started!.http![0]!.port}/v1/events`, {
      method: 'POST',
      body: JSON.stringify({ asset: 'web-1', type: 'down', message: 'from the slim tree' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    await waitFor(async () => {
      const r = await clickhouse!.session.queryAsync(
        "SELECT count() FROM otel.otel_logs WHERE Body = 'from the slim tree'",
        {
          format: 'TabSeparated',
        },
      );
      return r.text().trim() === '1';
    }, 'the event stored in the server');
    expect(logs.join('\n')).not.toMatch(/chdb/i);
  }, 240_000);
});
