// Debian's Chromium in `.tools/chromium`, for the console's browser tests: the pinned build, the
// shared libraries it needs that this image lacks, and the rule for when the pin is gone.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { installDebianPackages, TOOLS_ROOT, type DebianPackage, type ServedVersions } from './debian-packages.ts';

/**
 * The pinned build. playwright-core is pinned beside it (1.64.1 was made for Chromium 156); bump
 * both together. Debian serves only its newest security upload, so this pin breaks within weeks.
 */
export const CHROMIUM_VERSION = '156.0.8078.108-1~deb12u1';

/**
 * What `ldd` found missing for Chromium on this image (Debian bookworm with the project's usual
 * packages), and what those pull in; everything else it links (nss, gbm, cups, pango, fonts…) is
 * on the image. Versions are bookworm's.
 */
const LIBRARIES: readonly DebianPackage[] = [
  { name: 'libopenh264-7', version: '2.3.1+dfsg-3+deb12u2' },
  { name: 'libdouble-conversion3', version: '3.2.1-1' },
  { name: 'libharfbuzz-subset0', version: '6.0.0+dfsg-3' },
  { name: 'libpulse0', version: '16.1+dfsg1-2+b1' },
  { name: 'libflac12', version: '1.4.2+ds-2' },
  { name: 'libopus0', version: '1.3.1-3' },
  { name: 'libxnvctrl0', version: '525.85.05-3~deb12u1' },
  { name: 'libminizip1', version: '1.1-8+deb12u1' },
  { name: 'libopenjp2-7', version: '2.5.0-2+deb12u3' },
  { name: 'libsndfile1', version: '1.2.0-1+deb12u1' },
  { name: 'libasyncns0', version: '0.8-6+b3' },
  { name: 'libogg0', version: '1.3.5-3' },
  { name: 'libvorbis0a', version: '1.3.7-1' },
  { name: 'libvorbisenc2', version: '1.3.7-1' },
  { name: 'libmpg123-0', version: '1.31.2-1+deb12u1' },
  { name: 'libmp3lame0', version: '3.100-6' },
];

export interface ChromiumInstall {
  /** The real binary, not Debian's wrapper script (which hard-codes /usr/lib/chromium). */
  executablePath: string;
  /** Environment the binary needs: the unpacked libraries on LD_LIBRARY_PATH. */
  env: Record<string, string>;
  /** The Debian version actually installed (the pin, or the fallback when the pin is gone). */
  version: string;
  /** Every unpacked package with its version and the SHA-256 of its .deb. */
  packages: readonly { name: string; version: string; sha256: string }[];
}

/**
 * The pin when Debian still serves it; otherwise the newest served version, loudly. A red test run
 * because Debian shipped a security update would be worse than one major of skew, which
 * playwright-core tolerates (1.64.1 drove Chromium 150 and 156 alike).
 */
function pinOrNewest(name: string, pinned: string, served: ServedVersions, warn: (message: string) => void): string {
  const versions = served(name);
  if (versions.includes(pinned)) return pinned;
  const newest = versions[0];
  if (!newest) throw new Error(`Debian serves no ${name} at all (wanted ${pinned})`);
  warn(`WARNING: ${name} ${pinned} is no longer served by Debian; using ${newest} instead. Pin it in scripts/tools/chromium.ts${name === 'chromium' ? ' (and check playwright-core against it)' : ''}.`);
  return newest;
}

/**
 * Installs the pinned Chromium into `.tools/chromium` on first need (about 20 s and 110 MB of
 * downloads) and answers how to run it. Throws when the unpacked binary still misses a library.
 */
export function ensureChromium(options: { toolDir?: string; log?: (message: string) => void; warn?: (message: string) => void } = {}): ChromiumInstall {
  const toolDir = options.toolDir ?? join(TOOLS_ROOT, 'chromium');
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`));
  const install = installDebianPackages({
    toolDir,
    requested: JSON.stringify({ chromium: CHROMIUM_VERSION, libraries: LIBRARIES }),
    choose: (served) => {
      const version = pinOrNewest('chromium', CHROMIUM_VERSION, served, warn);
      return [
        { name: 'chromium', version },
        // chromium-common is built from the same source and must match chromium exactly.
        { name: 'chromium-common', version },
        ...LIBRARIES.map((library) => ({ name: library.name, version: pinOrNewest(library.name, library.version, served, warn) })),
      ];
    },
    ...(options.log ? { log: options.log } : {}),
  });
  const libraries = join(install.root, 'usr/lib/x86_64-linux-gnu');
  // libpulse finds its private libpulsecommon in a folder of its own.
  const env = { LD_LIBRARY_PATH: [libraries, join(libraries, 'pulseaudio'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  const executablePath = join(install.root, 'usr/lib/chromium/chromium');
  const ldd = spawnSync('ldd', [executablePath], { encoding: 'utf8', env: { ...process.env, ...env } });
  const missing = ldd.stdout.split('\n').filter((line) => line.includes('not found')).map((line) => line.trim());
  if (ldd.status !== 0 || missing.length) {
    throw new Error(`Chromium in ${toolDir} cannot start: ${missing.length ? `missing ${missing.join(', ')}; add their packages to scripts/tools/chromium.ts` : ldd.stderr}`);
  }
  const version = install.packages.find((pkg) => pkg.name === 'chromium')?.version ?? 'unknown';
  return { executablePath, env, version, packages: install.packages };
}
