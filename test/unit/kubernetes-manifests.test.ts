import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { ensureKubernetesTools, KUBERNETES_VERSION, type KubernetesTools } from '../../scripts/tools/kubernetes.ts';
import { TOOL_INSTALL_TIMEOUT_MS, untilToolInstalled } from '../support/test-tools.ts';

const root = new URL('../../', import.meta.url).pathname;
const kubernetes = join(root, 'deploy/kubernetes');
const kustomizations = ['base', 'overlays/production'];

// The variables the service reads, found as the README's configuration test finds them.
const sources = ['src/config.ts', 'src/launcher/temporal-cli.ts', 'src/tracing.ts'].map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
const variablesTheServiceReads = new Set([...sources.matchAll(/(?:FromEnv\(env, |envVar: )'([A-Z0-9_]+)'|\benv\.([A-Z][A-Z0-9_]+)/g)].map((match) => match[1] ?? match[2]));

interface Resource {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  stringData?: Record<string, string>;
}
interface Container {
  name: string;
  command: string[];
  env?: { name: string }[];
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[] };
}

function run(command: string, args: string[], input?: string) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the Kubernetes manifests', () => {
  let tools: KubernetesTools;
  const built = new Map<string, string>();
  const resources = (kustomization: string): Resource[] => parseAllDocuments(built.get(kustomization)!).map((document) => document.toJS() as Resource);
  const find = (kustomization: string, kind: string, name: string) => {
    const resource = resources(kustomization).find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
    if (!resource) throw new Error(`${kustomization} builds no ${kind} ${name}`);
    return resource;
  };
  const template = (resource: Resource) => resource.spec.template as PodTemplate;
  const validate = (yaml: string) => run(tools.kubeconform, ['-strict', '-summary', '-output', 'json', '-kubernetes-version', KUBERNETES_VERSION, '-schema-location', tools.schemaLocation, '-'], yaml);

  beforeAll(async () => {
    // kustomize and kubeconform are built from the Go module proxy on first need (a minute or two).
    await untilToolInstalled('kubernetes');
    tools = ensureKubernetesTools({ log: (message) => process.stderr.write(`${message}\n`) });
    for (const kustomization of kustomizations) {
      const result = run(tools.kustomize, ['build', join(kubernetes, kustomization)]);
      if (result.status !== 0) throw new Error(`kustomize build ${kustomization} failed: ${result.stderr}`);
      built.set(kustomization, result.stdout);
    }
  }, TOOL_INSTALL_TIMEOUT_MS + 900_000);

  it.each(kustomizations)('%s builds with kustomize into resources kubeconform finds valid, strictly, against the Kubernetes schemas', (kustomization) => {
    const result = validate(built.get(kustomization)!);
    const summary = JSON.parse(result.stdout) as { summary: { valid: number; invalid: number; errors: number; skipped: number }; resources: unknown[] };
    expect({ status: result.status, invalid: summary.resources }).toEqual({ status: 0, invalid: [] });
    expect(summary.summary).toEqual({ valid: resources(kustomization).length, invalid: 0, errors: 0, skipped: 0 });
  });

  it('refuses a manifest that is wrong, so a pass means something', () => {
    const broken = built.get('base')!.replace(/replicas: 3\n/, 'replicas: three\n').replace('containerPort: 8080', 'containerPortt: 8080');
    const result = validate(broken);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('replicas');
    expect(result.stdout).toContain('containerPortt');
  });

  it('set only variables the service reads, in every container', () => {
    for (const kustomization of kustomizations) {
      for (const resource of resources(kustomization).filter((candidate) => ['Deployment', 'Job'].includes(candidate.kind))) {
        for (const container of template(resource).spec.containers) {
          expect(container.env?.length ?? 0).toBeGreaterThan(0);
          for (const { name } of container.env ?? []) expect({ container: `${resource.metadata.name}/${container.name}`, variable: name, read: variablesTheServiceReads.has(name) }).toEqual({ container: `${resource.metadata.name}/${container.name}`, variable: name, read: true });
        }
      }
    }
  });

  it('run every container from an entry point that exists', () => {
    const entries = resources('base')
      .filter((candidate) => ['Deployment', 'Job'].includes(candidate.kind))
      .flatMap((resource) => template(resource).spec.containers.map((container) => container.command));
    expect(entries).toEqual(expect.arrayContaining([['node', 'src/api/main.ts'], ['node', 'src/worker/main.ts'], ['node', 'src/migrate/main.ts']]));
    for (const [, entry] of entries) expect({ entry, exists: existsSync(join(root, entry!)) }).toEqual({ entry, exists: true });
  });

  it('give the API liveness on /livez, readiness on /readyz, a CPU autoscaler at 80% and a disruption budget', () => {
    const api = template(find('base', 'Deployment', 'flagship-api'));
    const container = api.spec.containers[0]!;
    expect(container.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    const hpa = find('base', 'HorizontalPodAutoscaler', 'flagship-api').spec as { scaleTargetRef: { kind: string; name: string }; metrics: { resource: { name: string; target: { averageUtilization: number } } }[] };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'flagship-api' });
    expect(hpa.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }]);
    const pdb = find('base', 'PodDisruptionBudget', 'flagship-api').spec as { selector: { matchLabels: Record<string, string> } };
    expect(api.metadata.labels).toMatchObject(pdb.selector.matchLabels);
  });

  it('select the pods they are meant for, with every Service and budget', () => {
    const pods = resources('base')
      .filter((candidate) => candidate.kind === 'Deployment')
      .map((resource) => template(resource).metadata.labels);
    for (const resource of resources('base').filter((candidate) => ['Service', 'PodDisruptionBudget'].includes(candidate.kind))) {
      const selector = (resource.kind === 'Service' ? resource.spec.selector : (resource.spec.selector as { matchLabels: object }).matchLabels) as Record<string, string>;
      expect({ resource: resource.metadata.name, selects: pods.some((labels) => Object.entries(selector).every(([key, value]) => labels[key] === value)) }).toEqual({ resource: resource.metadata.name, selects: true });
    }
  });

  it('migrate in a Job as the owner role, while the API and the workers get only the application role', () => {
    const env = (resource: Resource) => template(resource).spec.containers.flatMap((container) => (container.env ?? []).map((variable) => variable.name));
    expect(env(find('base', 'Job', 'flagship-migrate'))).toContain('FLAGS_MIGRATION_DATABASE_URL');
    for (const name of ['flagship-api', 'flagship-worker']) {
      expect(env(find('base', 'Deployment', name))).toContain('DATABASE_URL');
      expect(env(find('base', 'Deployment', name))).not.toContain('FLAGS_MIGRATION_DATABASE_URL');
    }
  });

  it('keep the admin token and both signing keys in a Secret', () => {
    expect(Object.keys(find('base', 'Secret', 'flagship-secrets').stringData ?? {})).toEqual(expect.arrayContaining(['admin-token', 'snapshot-signing-key', 'audit-signing-key', 'database-url', 'migration-database-url']));
  });

  it('scale the workers on the task-queue backlog in the production overlay, on the metric the workers export', () => {
    const hpa = find('overlays/production', 'HorizontalPodAutoscaler', 'flagship-worker').spec as { metrics: { external: { metric: { name: string } } }[] };
    expect(hpa.metrics[0]?.external.metric.name).toBe('flags_temporal_task_queue_backlog');
    expect(readFileSync(join(root, 'src/worker/worker-status-metrics.ts'), 'utf8')).toContain("'flags_temporal_task_queue_backlog'");
  });

  it('are all built: every manifest file is part of a kustomization', () => {
    const listed = (folder: string) => (readFileSync(join(kubernetes, folder, 'kustomization.yaml'), 'utf8').match(/^\s+- (\S+\.yaml)$/gm) ?? []).map((line) => line.trim().slice(2));
    for (const folder of ['base', 'overlays/production', 'components/worker-backlog-autoscaling']) {
      const files = readdirSync(join(kubernetes, folder)).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
      expect({ folder, files: files.sort() }).toEqual({ folder, files: listed(folder).sort() });
    }
  });
});
