/** An instant as the API writes it (ISO 8601, UTC), or null. */
export function iso(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}
