// Debian's wrk in `.tools/wrk`, for `npm run bench:http`: the flat-out runs need a load generator
// that costs less CPU per request than the servers it loads (autocannon, in Node, costs about as
// much as the server and so caps what a two-core machine can show). wrk needs LuaJIT, which this
// image lacks; both come from Debian bookworm, unpacked, never installed system-wide.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { installDebianPackages, TOOLS_ROOT, type DebianPackage, type ServedVersions } from './debian-packages.ts';

export const WRK_VERSION = '4.1.0-3+b2';
const LUAJIT_VERSION = '2.1.0~beta3+git20220320+dfsg-4.1+deb12u1';

const PACKAGES: readonly DebianPackage[] = [
  { name: 'wrk', version: WRK_VERSION },
  { name: 'libluajit-5.1-2', version: LUAJIT_VERSION },
  { name: 'libluajit-5.1-common', version: LUAJIT_VERSION },
];

export interface WrkInstall {
  executablePath: string;
  /** Environment wrk needs: the unpacked LuaJIT on LD_LIBRARY_PATH. */
  env: Record<string, string>;
  version: string;
}

/**
 * The pin when Debian still serves it; otherwise a later upload of the same upstream release (a
 * security fix changes only the Debian suffix), loudly. A benchmark's load generator of another
 * upstream release would make figures incomparable, so that is refused.
 */
function pinOrSameRelease(pkg: DebianPackage, served: ServedVersions, warn: (message: string) => void): string {
  const versions = served(pkg.name);
  if (versions.includes(pkg.version)) return pkg.version;
  const upstream = pkg.version.split('-')[0]!;
  const sameRelease = versions.find((version) => version.split('-')[0] === upstream);
  if (!sameRelease) throw new Error(`Debian no longer serves ${pkg.name} ${upstream} (served: ${versions.join(', ') || 'none'}); pin a served version in scripts/tools/wrk.ts`);
  warn(`WARNING: ${pkg.name} ${pkg.version} is no longer served by Debian; using ${sameRelease} (same upstream release). Pin it in scripts/tools/wrk.ts.`);
  return sameRelease;
}

/** Installs the pinned wrk into `.tools/wrk` on first need (a few seconds, about 1 MB) and answers how to run it. */
export function ensureWrk(options: { toolDir?: string; log?: (message: string) => void; warn?: (message: string) => void } = {}): WrkInstall {
  const toolDir = options.toolDir ?? join(TOOLS_ROOT, 'wrk');
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`));
  const install = installDebianPackages({
    toolDir,
    requested: JSON.stringify(PACKAGES),
    choose: (served) => PACKAGES.map((pkg) => ({ name: pkg.name, version: pinOrSameRelease(pkg, served, warn) })),
    ...(options.log ? { log: options.log } : {}),
  });
  const env = { LD_LIBRARY_PATH: [join(install.root, 'usr/lib/x86_64-linux-gnu'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  const executablePath = join(install.root, 'usr/bin/wrk');
  // `wrk -v` prints its version and exits 1: its output, not its status, says whether it runs.
  const check = spawnSync(executablePath, ['-v'], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (!/^wrk /.test(check.stdout + check.stderr)) throw new Error(`wrk in ${toolDir} does not run: ${check.stderr || check.stdout || String(check.error)}`);
  return { executablePath, env, version: install.packages.find((pkg) => pkg.name === 'wrk')?.version ?? 'unknown' };
}
