const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * `90s`, `5m`, `1h30m`, `2d`, `250ms`, ISO 8601 (`PT1H30M`, `P1DT12H`), or a number of milliseconds.
 * Returns null when the text is none of these.
 */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const text = value.trim();
  const compact = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
  if (compact.test(text)) {
    let total = 0;
    for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    return Math.round(total);
  }
  const iso = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (iso && text !== 'P' && !text.endsWith('T')) {
    const [, weeks, days, hours, minutes, seconds] = iso.map((part) => (part === undefined ? 0 : Number(part)));
    return Math.round((weeks ?? 0) * UNIT_MS.w + (days ?? 0) * UNIT_MS.d + (hours ?? 0) * UNIT_MS.h + (minutes ?? 0) * UNIT_MS.m + (seconds ?? 0) * UNIT_MS.s);
  }
  return null;
}
