/**
 * Semantic versions for the `semver_*` operators: semver 2.0.0 precedence, parsed by hand (no
 * regular expression, so an attribute cannot make parsing slow). Like LaunchDarkly, minor and patch
 * may be omitted (`2` is `2.0.0`, `2.1` is `2.1.0`); leading zeros are tolerated; build metadata is
 * accepted and ignored, as the spec says.
 */
export interface Semver {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated identifiers; numeric ones as numbers. Empty for a release. */
  readonly prerelease: readonly (string | number)[];
}

const MAX_LENGTH = 256;

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isIdentifier(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45;
    if (!ok) return false;
  }
  return true;
}

/** Parses a version, or returns null when the text is not one. */
export function parseSemver(text: string): Semver | null {
  if (text.length === 0 || text.length > MAX_LENGTH) return null;
  let rest = text;
  const plus = rest.indexOf('+');
  if (plus >= 0) {
    const build = rest.slice(plus + 1).split('.');
    if (!build.every(isIdentifier)) return null;
    rest = rest.slice(0, plus);
  }
  let prerelease: (string | number)[] = [];
  const dash = rest.indexOf('-');
  if (dash >= 0) {
    const identifiers = rest.slice(dash + 1).split('.');
    if (!identifiers.every(isIdentifier)) return null;
    prerelease = identifiers.map((id) => (isDigits(id) ? Number(id) : id));
    rest = rest.slice(0, dash);
  }
  const core = rest.split('.');
  if (core.length > 3 || !core.every(isDigits)) return null;
  const [major, minor = '0', patch = '0'] = core;
  const numbers = [Number(major), Number(minor), Number(patch)] as const;
  if (!numbers.every(Number.isSafeInteger)) return null;
  return { major: numbers[0], minor: numbers[1], patch: numbers[2], prerelease };
}

/** Semver precedence: negative when a < b, zero when equal (build metadata ignored), positive when a > b. */
export function compareSemver(a: Semver, b: Semver): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.minor !== b.minor) return a.minor - b.minor;
  if (a.patch !== b.patch) return a.patch - b.patch;
  // A release ranks above any of its pre-releases.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length;
  const n = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const x = a.prerelease[i]!;
    const y = b.prerelease[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    // Numeric identifiers rank below alphanumeric ones; alphanumeric ones compare in ASCII order.
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return a.prerelease.length - b.prerelease.length;
}
