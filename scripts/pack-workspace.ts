// prepack and postpack of the workspace packages that ship a library (@flagship/engine, @flagship/sdk).
// In the repository their `exports` name TypeScript sources, which the server runs as they are: Node
// strips types through the workspace link because the link resolves outside node_modules. A consumer's
// node_modules gets no type stripping, so the tarball carries dist/ (JavaScript and declarations) and a
// manifest whose exports name those. postpack puts the repository's manifest back and removes dist/.
//
//   node ../../scripts/pack-workspace.ts prepack <the build's rootDir>
//   node ../../scripts/pack-workspace.ts postpack
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';

const TSC = new URL('../node_modules/.bin/tsc', import.meta.url).pathname;
const MANIFEST = 'package.json';
const SOURCE_MANIFEST = '.package.source.json';

type Exports = Record<string, string | Record<string, string>>;

function publishedExports(exports: Exports, rootDir: string): Exports {
  return Object.fromEntries(Object.entries(exports).map(([subpath, target]) => {
    if (typeof target !== 'string' || !target.endsWith('.ts')) return [subpath, target];
    const built = `./${posix.join('dist', posix.relative(rootDir, target)).replace(/\.ts$/, '')}`;
    return [subpath, { types: `${built}.d.ts`, default: `${built}.js` }];
  }));
}

const [step, rootDir = '.'] = process.argv.slice(2);
if (step === 'prepack') {
  rmSync('dist', { recursive: true, force: true });
  execFileSync(TSC, ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text) as { exports: Exports; scripts?: Record<string, string> };
  writeFileSync(SOURCE_MANIFEST, text);
  // The scripts only make sense inside the repository.
  const { scripts: _scripts, ...published } = { ...manifest, exports: publishedExports(manifest.exports, rootDir) };
  writeFileSync(MANIFEST, `${JSON.stringify(published, null, 2)}\n`);
} else if (step === 'postpack') {
  if (existsSync(SOURCE_MANIFEST)) renameSync(SOURCE_MANIFEST, MANIFEST);
  rmSync('dist', { recursive: true, force: true });
} else {
  throw new Error(`pack-workspace: unknown step ${step ?? '(none)'}; expected prepack or postpack`);
}
