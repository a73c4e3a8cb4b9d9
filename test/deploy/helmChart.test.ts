import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../support/daemon.ts';

/**
 * The chart, rendered by the real `helm` (CI installs it with `go install`): every mode lints,
 * renders the objects an operator expects, and carries a Vigil config that Vigil accepts.
 */
const CHART = resolve(import.meta.dirname, '../../helm/vigil');
const HELM = process.env.HELM ?? 'helm';

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function render(...set: string[]): K8sObject[] {
  const args = ['template', 'vigil', CHART, '--namespace', 'observability', ...set.flatMap((s) => ['--set', s])];
  const out = execFileSync(HELM, args, { encoding: 'utf8' });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

async function vigilAccepts(objs: K8sObject[]): Promise<void> {
  const [cm] = byKind(objs, 'ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-chart-'));
  writeFileSync(join(dir, 'vigil.yaml'), cm!.data!['vigil.yaml']!);
  const res = await runCli(['validate', '--config', join(dir, 'vigil.yaml')]);
  expect(res.stderr + res.stdout).not.toMatch(/error/i);
  expect(res.code).toBe(0);
}

describe('helm chart', () => {
  it('lints in both modes', () => {
    for (const mode of ['daemonset', 'deployment']) {
      const res = spawnSync(HELM, ['lint', '--strict', CHART, '--set', `mode=${mode}`], { encoding: 'utf8' });
      expect(res.stdout + res.stderr).toMatch(/0 chart\(s\) failed/);
      expect(res.status).toBe(0);
    }
  });

  it('renders a DaemonSet whose Service keeps traffic on the node, with probes and a valid Vigil config', async () => {
    const objs = render();
    expect(byKind(objs, 'Deployment')).toHaveLength(0);
    const [ds] = byKind(objs, 'DaemonSet');
    const pod = (ds!.spec!.template as { spec: { containers: { args: string[]; livenessProbe: unknown; readinessProbe: unknown; ports: { name: string; containerPort: number }[] }[] } }).spec;
    const c = pod.containers[0]!;
    expect(c.args).toEqual(['run', '--config', '/etc/vigil/vigil.yaml', '--data-dir', '/var/lib/vigil']);
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'admin' } });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'admin' } });
    expect(c.ports.map((p) => p.containerPort).sort()).toEqual([4317, 4318, 5514, 5514, 8080]);
    const [svc] = byKind(objs, 'Service');
    expect(svc!.spec).toMatchObject({ internalTrafficPolicy: 'Local' });
    await vigilAccepts(objs);
  });

  it('renders a Deployment with a claim and a disruption budget when asked', async () => {
    const objs = render('mode=deployment', 'replicaCount=3', 'persistence.enabled=true', 'podDisruptionBudget.enabled=true');
    expect(byKind(objs, 'DaemonSet')).toHaveLength(0);
    expect(byKind(objs, 'Deployment')[0]!.spec).toMatchObject({ replicas: 3 });
    expect(byKind(objs, 'PersistentVolumeClaim')).toHaveLength(1);
    expect(byKind(objs, 'PodDisruptionBudget')).toHaveLength(1);
    expect(byKind(objs, 'Service')[0]!.spec!.internalTrafficPolicy).toBeUndefined();
    await vigilAccepts(objs);
  });

  it('refuses an unknown mode with a message that says what to do', () => {
    const res = spawnSync(HELM, ['template', 'vigil', CHART, '--set', 'mode=sidecar'], { encoding: 'utf8' });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/mode must be daemonset or deployment.*docs\/deployment\.md/);
  });
});
