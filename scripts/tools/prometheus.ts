// Debian's Prometheus in `.tools/prometheus`: `promtool` checks and unit-tests the alert rules in
// `npm test`, and the server scrapes the service for the dashboards' screenshots. Debian's package
// (a few seconds to fetch) rather than a build from the Go module proxy (7–13 minutes and 2 GB of Go
// caches on a fresh two-core machine): docs/operations.md says why that deviation is worth it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { installDebianPackages, TOOLS_ROOT } from './debian-packages.ts';

/** Bookworm's Prometheus: 2.42, with `promtool check rules` and `promtool test rules`. */
export const PROMETHEUS_VERSION = '2.42.0+ds-5+deb12u1';

export interface PrometheusInstall {
  promtool: string;
  prometheus: string;
  /** The Debian version actually installed (the pin, or a later 2.42 upload when the pin is gone). */
  version: string;
}

/**
 * The pin when Debian still serves it; otherwise a later upload of the same upstream release (a
 * security fix changes only the `+deb12uN` suffix), loudly; never another upstream release, whose
 * rule syntax and test semantics could differ under the tests.
 */
function pinOrSameRelease(served: string[], warn: (message: string) => void): string {
  if (served.includes(PROMETHEUS_VERSION)) return PROMETHEUS_VERSION;
  const upstream = PROMETHEUS_VERSION.split('+')[0]!;
  const sameRelease = served.find((version) => version.startsWith(`${upstream}+`));
  if (!sameRelease) throw new Error(`Debian no longer serves Prometheus ${upstream} (served: ${served.join(', ') || 'none'}); pin a served version in scripts/tools/prometheus.ts`);
  warn(`WARNING: prometheus ${PROMETHEUS_VERSION} is no longer served by Debian; using ${sameRelease} (same upstream release). Pin it in scripts/tools/prometheus.ts.`);
  return sameRelease;
}

/** Installs the pinned Prometheus into `.tools/prometheus` on first need and answers where its binaries are. */
export function ensurePrometheus(options: { toolDir?: string; log?: (message: string) => void; warn?: (message: string) => void } = {}): PrometheusInstall {
  const toolDir = options.toolDir ?? join(TOOLS_ROOT, 'prometheus');
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`));
  const install = installDebianPackages({
    toolDir,
    requested: JSON.stringify({ prometheus: PROMETHEUS_VERSION }),
    choose: (served) => [{ name: 'prometheus', version: pinOrSameRelease(served('prometheus'), warn) }],
    ...(options.log ? { log: options.log } : {}),
  });
  const promtool = join(install.root, 'usr/bin/promtool');
  const check = spawnSync(promtool, ['--version'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`promtool in ${toolDir} does not run: ${check.stderr || String(check.error)}`);
  return {
    promtool,
    prometheus: join(install.root, 'usr/bin/prometheus'),
    version: install.packages.find((pkg) => pkg.name === 'prometheus')?.version ?? 'unknown',
  };
}
