import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { runCli } from '../support/daemon.ts';
import { kubeconformSchemaLocation } from '../support/kubeSchemas.ts';

/**
 * The chart, rendered by the real `helm` (CI installs it with `go install`): every mode lints,
 * renders the objects an operator expects, validates against the Kubernetes API's schemas with
 * `kubeconform -strict`, and carries a Vigil config that Vigil accepts.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'helm/vigil');
const HELM = process.env.HELM ?? 'helm';
const SCHEMA_CACHE = join(tmpdir(), 'vigil-kubeconform-schemas');

interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  securityContext?: Record<string, unknown>;
  ports: { name: string; containerPort: number; hostPort?: number }[];
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; hostPath?: unknown; persistentVolumeClaim?: unknown; emptyDir?: unknown }[];
  hostNetwork?: boolean;
  dnsPolicy?: string;
  topologySpreadConstraints?: unknown[];
}
interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function helm(args: string[]): { code: number | null; out: string } {
  const res = spawnSync(HELM, args, { encoding: 'utf8' });
  return { code: res.status, out: res.stdout + res.stderr };
}

function renderText(set: string[]): string {
  return execFileSync(
    HELM,
    ['template', 'vigil', CHART, '--namespace', 'observability', ...set.flatMap((s) => ['--set', s])],
    { encoding: 'utf8' },
  );
}

function render(...set: string[]): K8sObject[] {
  return parseAllDocuments(renderText(set))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const podOf = (o: K8sObject) => (o.spec!.template as { spec: PodSpec }).spec;

async function vigilAccepts(objs: K8sObject[]): Promise<string> {
  const [cm] = byKind(objs, 'ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-chart-'));
  writeFileSync(join(dir, 'vigil.yaml'), cm!.data!['vigil.yaml']!);
  const res = await runCli(['validate', '--config', join(dir, 'vigil.yaml')], {
    VIGIL_REDIS_URL: 'redis://127.0.0.1:6379',
    VIGIL_AGENT_ID: 'vigil-0',
  });
  expect(res.stderr + res.stdout).not.toMatch(/error/i);
  expect(res.code).toBe(0);
  return cm!.data!['vigil.yaml']!;
}

/** What an operator turns on, per mode; each set renders, validates strictly and lints. */
const everything = [
  'grafanaDashboards.enabled=true',
  'podDisruptionBudget.enabled=true',
  'serviceMonitor.enabled=true',
  'prometheusRule.enabled=true',
  'networkPolicy.enabled=true',
  'presets.redis.enabled=true',
  'presets.redis.url=redis://vigil-redis:6379',
];
const valueSets: Record<string, string[]> = {
  'daemonset (defaults)': [],
  'daemonset, everything on, hostPath persistence': ['persistence.enabled=true', ...everything],
  'daemonset on the host network': ['hostNetwork=true'],
  'daemonset with hostPorts': ['ports.syslog-udp.hostPort=514', 'ports.syslog-tcp.hostPort=514'],
  'deployment (defaults)': ['mode=deployment'],
  'deployment, one replica with a claim, everything on': [
    'mode=deployment',
    'replicaCount=1',
    'persistence.enabled=true',
    ...everything,
  ],
  'deployment with an autoscaler': [
    'mode=deployment',
    'autoscaling.enabled=true',
    'autoscaling.targetMemoryUtilizationPercentage=80',
  ],
  'statefulset with a claim per replica, everything on': [
    'mode=statefulset',
    'replicaCount=3',
    'persistence.enabled=true',
    ...everything,
  ],
  'redis preset from a Secret': ['presets.redis.enabled=true', 'presets.redis.existingSecret=vigil-redis'],
};

describe('helm chart', () => {
  let schemaLocation = '';
  beforeAll(() => {
    schemaLocation = kubeconformSchemaLocation(SCHEMA_CACHE);
  }, 300_000);

  it.each(Object.entries(valueSets))('%s: lints, and kubeconform -strict finds every object valid', (_name, set) => {
    const lint = helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect(lint.out).toMatch(/0 chart\(s\) failed/);
    expect(lint.code).toBe(0);
    const res = spawnSync('kubeconform', ['-strict', '-summary', '-schema-location', schemaLocation, '-'], {
      input: renderText(set),
      encoding: 'utf8',
    });
    expect(res.stdout + res.stderr).toMatch(/Invalid: 0, Errors: 0, Skipped: 0/);
    expect(res.status).toBe(0);
  });

  it('kubeconform catches what the API server would refuse (the check can fail)', () => {
    const bad = renderText([]).replace(
      'terminationGracePeriodSeconds: 40',
      'terminationGracePeriodSeconds: 40\n      hostNetwrk: true',
    );
    const res = spawnSync('kubeconform', ['-strict', '-summary', '-schema-location', schemaLocation, '-'], {
      input: bad,
      encoding: 'utf8',
    });
    expect(res.stdout).toMatch(/additional properties 'hostNetwrk' not allowed/);
    expect(res.status).not.toBe(0);
  });

  it('renders a DaemonSet whose Service keeps traffic on the node, with probes and a valid Vigil config', async () => {
    const objs = render();
    expect(byKind(objs, 'Deployment')).toHaveLength(0);
    const pod = podOf(byKind(objs, 'DaemonSet')[0]!);
    const c = pod.containers[0]!;
    expect(c.args).toEqual(['run', '--config', '/etc/vigil/vigil.yaml', '--data-dir', '/var/lib/vigil']);
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'admin' } });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'admin' } });
    expect(c.ports.map((p) => p.containerPort).sort()).toEqual([4317, 4318, 5514, 5514, 8080]);
    expect(pod.initContainers).toBeUndefined();
    const [svc] = byKind(objs, 'Service');
    expect(svc!.spec).toMatchObject({ internalTrafficPolicy: 'Local' });
    await vigilAccepts(objs);
  });

  it('hands a hostPath data directory to the non-root user with an init container that can only chown', () => {
    const pod = podOf(byKind(render('persistence.enabled=true'), 'DaemonSet')[0]!);
    expect(pod.volumes.find((v) => v.name === 'data')).toMatchObject({
      hostPath: { path: '/var/lib/vigil', type: 'DirectoryOrCreate' },
    });
    const [init] = pod.initContainers!;
    expect(init!.command).toEqual(['chown', '10001:10001', '/var/lib/vigil']);
    expect(init!.securityContext).toMatchObject({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['CHOWN'] },
    });
    expect(init!.volumeMounts).toEqual([{ name: 'data', mountPath: '/var/lib/vigil' }]);
    expect(
      podOf(byKind(render('persistence.enabled=true', 'persistence.fixPermissions=false'), 'DaemonSet')[0]!)
        .initContainers,
    ).toBeUndefined();
  });

  it('renders a Deployment with a claim and a disruption budget when asked', async () => {
    const objs = render(
      'mode=deployment',
      'replicaCount=1',
      'persistence.enabled=true',
      'podDisruptionBudget.enabled=true',
    );
    expect(byKind(objs, 'DaemonSet')).toHaveLength(0);
    expect(byKind(objs, 'Deployment')[0]!.spec).toMatchObject({ replicas: 1 });
    expect(byKind(objs, 'PersistentVolumeClaim')).toHaveLength(1);
    expect(byKind(objs, 'PodDisruptionBudget')).toHaveLength(1);
    expect(byKind(objs, 'Service')[0]!.spec!.internalTrafficPolicy).toBeUndefined();
    await vigilAccepts(objs);
  });

  it('refuses one ReadWriteOnce claim shared by several Deployment replicas, and says to use a StatefulSet', () => {
    for (const extra of [['replicaCount=3'], ['replicaCount=1', 'autoscaling.enabled=true']]) {
      const res = helm([
        'template',
        'vigil',
        CHART,
        '--set',
        'mode=deployment',
        '--set',
        'persistence.enabled=true',
        ...extra.flatMap((s) => ['--set', s]),
      ]);
      expect(res.code).not.toBe(0);
      expect(res.out).toMatch(/use mode=statefulset/);
    }
  });

  it('renders a StatefulSet with one claim per replica and its headless Service', async () => {
    const objs = render('mode=statefulset', 'replicaCount=3', 'persistence.enabled=true', 'persistence.size=20Gi');
    const [sts] = byKind(objs, 'StatefulSet');
    expect(sts!.spec).toMatchObject({ replicas: 3, serviceName: 'vigil-headless' });
    const claims = sts!.spec!.volumeClaimTemplates as {
      metadata: { name: string };
      spec: { resources: { requests: { storage: string } } };
    }[];
    expect(claims.map((c) => [c.metadata.name, c.spec.resources.requests.storage])).toEqual([['data', '20Gi']]);
    // The pod's "data" comes from the claim template, not from a shared claim or an emptyDir.
    expect(podOf(sts!).volumes.map((v) => v.name)).not.toContain('data');
    expect(podOf(sts!).containers[0]!.volumeMounts.map((m) => m.name)).toContain('data');
    expect(byKind(objs, 'PersistentVolumeClaim')).toHaveLength(0);
    const services = byKind(objs, 'Service');
    expect(services.map((s) => s.metadata.name).sort()).toEqual(['vigil', 'vigil-headless']);
    expect(services.find((s) => s.metadata.name === 'vigil-headless')!.spec).toMatchObject({ clusterIP: 'None' });
    await vigilAccepts(objs);
  });

  it('runs on the host network with cluster DNS, and publishes hostPorts only when asked', () => {
    const host = podOf(byKind(render('hostNetwork=true', 'ports.syslog-udp.hostPort=514'), 'DaemonSet')[0]!);
    expect(host).toMatchObject({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' });
    expect(host.containers[0]!.ports.some((p) => p.hostPort !== undefined)).toBe(false);
    const ports = podOf(byKind(render('ports.syslog-udp.hostPort=514'), 'DaemonSet')[0]!).containers[0]!.ports;
    expect(ports.find((p) => p.name === 'syslog-udp')).toMatchObject({ containerPort: 5514, hostPort: 514 });
  });

  it('mounts extra volumes, spreads pods and scales a Deployment with an autoscaler', () => {
    const objs = render(
      'mode=deployment',
      'extraVolumes[0].name=journal',
      'extraVolumes[0].hostPath.path=/var/log/journal',
      'extraVolumeMounts[0].name=journal',
      'extraVolumeMounts[0].mountPath=/var/log/journal',
      'topologySpreadConstraints[0].maxSkew=1',
      'topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone',
      'topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway',
      'autoscaling.enabled=true',
      'autoscaling.maxReplicas=9',
    );
    const pod = podOf(byKind(objs, 'Deployment')[0]!);
    expect(pod.volumes.find((v) => v.name === 'journal')).toMatchObject({ hostPath: { path: '/var/log/journal' } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'journal', mountPath: '/var/log/journal' });
    expect(pod.topologySpreadConstraints).toHaveLength(1);
    expect(byKind(objs, 'HorizontalPodAutoscaler')[0]!.spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 9,
      scaleTargetRef: { kind: 'Deployment', name: 'vigil' },
    });
  });

  it('the redis preset points every agent at one Redis, and Vigil accepts the merged config', async () => {
    const objs = render(
      'presets.redis.enabled=true',
      'presets.redis.existingSecret=vigil-redis',
      'presets.redis.prefix=prod',
    );
    const env = podOf(byKind(objs, 'DaemonSet')[0]!).containers[0]!.env!;
    expect(env.find((e) => e.name === 'VIGIL_REDIS_URL')).toEqual({
      name: 'VIGIL_REDIS_URL',
      valueFrom: { secretKeyRef: { name: 'vigil-redis', key: 'url' } },
    });
    const text = await vigilAccepts(objs);
    expect(text).toMatch(/store: redis/);
    expect(text).toMatch(/prefix: prod/);
    const res = helm(['template', 'vigil', CHART, '--set', 'presets.redis.enabled=true']);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/presets\.redis\.enabled needs presets\.redis\.url or presets\.redis\.existingSecret/);
  });

  it('the redis preset shares the work by partitions when asked, and Vigil accepts the merged config', async () => {
    const text = await vigilAccepts(
      render(
        'presets.redis.enabled=true',
        'presets.redis.url=redis://vigil-redis:6379',
        'presets.redis.sharing=partitions',
        'presets.redis.partitions=6',
      ),
    );
    expect(text).toMatch(/sharing: partitions/);
    expect(text).toMatch(/partitions: 6/);
  });

  it('ships the Grafana dashboards in a ConfigMap for the dashboard sidecar, byte for byte', () => {
    const [cm] = byKind(render('grafanaDashboards.enabled=true'), 'ConfigMap').filter(
      (o) => o.metadata.name === 'vigil-dashboards',
    );
    expect((cm!.metadata as { labels?: Record<string, string> }).labels).toMatchObject({ grafana_dashboard: '1' });
    expect(Object.keys(cm!.data!).sort()).toEqual(['vigil-data.json', 'vigil-self.json']);
    for (const [name, text] of Object.entries(cm!.data!))
      expect(text.trimEnd()).toBe(readFileSync(join(CHART, 'dashboards', name), 'utf8').trimEnd());
  });

  it('refuses unknown and mistyped values instead of ignoring them', () => {
    for (const [set, said] of [
      ['hostNetwrk=true', /Additional property hostNetwrk is not allowed/],
      ['replicaCount=two', /replicaCount.*(integer|Invalid type)/],
      ['persistence.enable=true', /Additional property enable is not allowed/],
      ['presets.redis.url=http://redis:6379', /presets\.redis\.url/],
    ] as const) {
      const res = helm(['template', 'vigil', CHART, '--set', set]);
      expect(res.code, set).not.toBe(0);
      expect(res.out, set).toMatch(said);
    }
  });

  it('refuses an unknown mode with a message that says what to do', () => {
    const res = helm(['template', 'vigil', CHART, '--set', 'mode=sidecar']);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/mode must be daemonset, deployment or statefulset.*docs\/deployment\.md/);
  });

  it('ships alert rules that promtool accepts, whose unit tests pass, on metrics Vigil exports', () => {
    const rules = readFileSync(join(CHART, 'files/alerts.yaml'), 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-'));
    writeFileSync(
      join(dir, 'rules.yaml'),
      stringify({ groups: [{ name: 'vigil', rules: parseAllDocuments(rules)[0]!.toJS() }] }),
    );
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toMatch(/SUCCESS: 8 rules found/);
    const unit = readFileSync(join(ROOT, 'test/deploy/fixtures/alerts.test.yaml'), 'utf8');
    writeFileSync(join(dir, 'alerts.test.yaml'), `rule_files: [rules.yaml]\n${unit}`);
    const test = spawnSync('promtool', ['test', 'rules', join(dir, 'alerts.test.yaml')], { encoding: 'utf8' });
    expect(test.stdout + test.stderr).toMatch(/SUCCESS/);
    expect(test.status).toBe(0);
    // Every metric an alert reads is one Vigil defines.
    const sources = execFileSync('grep', ['-rhoE', "name: 'vigil_[a-z_]+'", join(ROOT, 'src')], { encoding: 'utf8' });
    for (const metric of new Set(rules.match(/vigil_[a-z_]+/g))) expect(sources, metric).toContain(`'${metric}'`);
    const [rule] = byKind(render('prometheusRule.enabled=true'), 'PrometheusRule');
    expect((rule!.spec!.groups as { rules: { alert: string }[] }[])[0]!.rules.map((r) => r.alert)).toContain(
      'VigilTicketChangeParked',
    );
  });
});
