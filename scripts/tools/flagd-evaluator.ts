// flagd's Go evaluator behind an OFREP endpoint (bench/flagd-go), built for `npm run bench:http`
// into `.tools/flagd-evaluator/`: the module versions are pinned by bench/flagd-go/go.mod and go.sum
// and come from the Go module proxy; the module cache and build cache live in the tool folder too.
// Needs a Go toolchain (1.24 or newer) on the PATH; without one the benchmark leaves the row out.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS_ROOT } from './debian-packages.ts';

const SOURCE_DIR = new URL('../../bench/flagd-go/', import.meta.url).pathname;
const SOURCES = ['go.mod', 'go.sum', 'main.go'];

/** The flagd core module the server is built from, as go.mod pins it. */
export function flagdCoreVersion(): string {
  return /github\.com\/open-feature\/flagd\/core (v\S+)/.exec(readFileSync(join(SOURCE_DIR, 'go.mod'), 'utf8'))?.[1] ?? 'unknown';
}

/**
 * Builds the server once per version of its sources (about a minute and 60 MB of modules the first
 * time) and answers the executable's path, or why it cannot be built here.
 */
export function ensureFlagdEvaluator(options: { log?: (message: string) => void } = {}): { executablePath: string } | { unavailable: string } {
  const digest = createHash('sha256');
  for (const file of SOURCES) digest.update(readFileSync(join(SOURCE_DIR, file)));
  const toolDir = join(TOOLS_ROOT, 'flagd-evaluator');
  const executablePath = join(toolDir, digest.digest('hex').slice(0, 16), 'flagd-evaluator-ofrep-server');
  if (existsSync(executablePath)) return { executablePath };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) return { unavailable: `no Go toolchain on the PATH (${go.error?.message ?? go.stderr.trim()})` };
  mkdirSync(toolDir, { recursive: true });
  options.log?.(`building flagd's Go evaluator (github.com/open-feature/flagd/core ${flagdCoreVersion()}) with ${go.stdout.trim()} into ${toolDir}…`);
  const build = spawnSync('go', ['build', '-trimpath', '-o', executablePath, '.'], {
    cwd: SOURCE_DIR,
    encoding: 'utf8',
    env: {
      ...process.env,
      GOPATH: join(toolDir, 'gopath'),
      GOMODCACHE: join(toolDir, 'gopath', 'pkg', 'mod'),
      GOCACHE: join(toolDir, 'gocache'),
      // go.sum pins every module's hash; nothing else is consulted or changed.
      GOFLAGS: '-mod=readonly',
      GOSUMDB: 'off',
      GOTOOLCHAIN: 'local',
    },
  });
  if (build.status !== 0) return { unavailable: `go build failed: ${(build.stderr || build.stdout).trim().split('\n').slice(-5).join(' | ')}` };
  return { executablePath };
}
