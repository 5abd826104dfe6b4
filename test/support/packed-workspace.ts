// Workspace packages as their users get them: packed by npm (prepack builds dist/) and installed from
// the tarball into a folder outside the repository, so nothing resolves through the workspace links.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const REPOSITORY = new URL('../../', import.meta.url).pathname;

export function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

/** `npm pack` of the workspace package in `packageDir` (relative to the repository) into `destination`. */
export function packWorkspace(packageDir: string, destination: string): { tarball: string; files: string[] } {
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', destination], join(REPOSITORY, packageDir))) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(destination, packed[0]!.filename), files: packed[0]!.files.map((file) => file.path) };
}

/** A new npm project in `folder` with the tarballs installed (their dependencies from the registry). */
export function installTarballs(folder: string, tarballs: string[]): void {
  mkdirSync(folder, { recursive: true });
  npm(['init', '-y'], folder);
  npm(['install', '--no-audit', '--no-fund', ...tarballs], folder);
}

/** Every package installed under `folder`/node_modules, nested ones included, by name. */
export function installedPackages(folder: string): string[] {
  const names: string[] = [];
  const visit = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const directories = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((name) => join(entry, name)) : [entry];
      for (const name of directories) {
        if (!existsSync(join(modules, name, 'package.json'))) continue;
        names.push(name);
        visit(join(modules, name, 'node_modules'));
      }
    }
  };
  visit(join(folder, 'node_modules'));
  return names.sort();
}
