import type { RolloutGate } from '../workflows/rollout-definitions.ts';

/** What a gate check found; `reason` is what the pause or rollback and its event say. */
export interface GateVerdict {
  ok: boolean;
  /** The number compared with the thresholds, when there was one. */
  value: number | null;
  reason: string;
  gate: { type: RolloutGate['type']; url: string; query?: string; jsonPath?: string; min?: number; max?: number };
}

export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

const DEFAULT_TIMEOUT_MS = 5_000;
/** A probe answer larger than this is not a metric. */
const MAX_BODY_BYTES = 1_048_576;

/**
 * Checks a gate once. Fail closed: a probe that cannot be made (network error, timeout, non-2xx,
 * unreadable number, no data) fails the gate, so a broken metrics pipeline halts a rollout rather
 * than waving it through. Never throws for a probe problem; the verdict says what went wrong.
 */
export async function checkGate(gate: RolloutGate, fetchFunction: FetchFunction = fetch): Promise<GateVerdict> {
  const described: GateVerdict['gate'] = {
    type: gate.type,
    url: gate.url,
    ...(gate.type === 'prometheus' ? { query: gate.query } : {}),
    ...(gate.type === 'http' && gate.jsonPath !== undefined ? { jsonPath: gate.jsonPath } : {}),
    ...(gate.min !== undefined ? { min: gate.min } : {}),
    ...(gate.max !== undefined ? { max: gate.max } : {}),
  };
  const fail = (reason: string, value: number | null = null): GateVerdict => ({ ok: false, value, reason, gate: described });
  let response: Response;
  const url = gate.type === 'prometheus' ? prometheusQueryUrl(gate.url, gate.query) : gate.url;
  try {
    response = await fetchFunction(url, {
      method: 'GET',
      headers: { accept: 'application/json, text/plain;q=0.9' },
      signal: AbortSignal.timeout(gate.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      redirect: 'follow',
    });
  } catch (error) {
    return fail(`probe ${gate.url} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await readLimited(response);
  if (!response.ok) return fail(`probe ${gate.url} answered HTTP ${response.status}`);
  if (text === null) return fail(`probe ${gate.url} answered more than ${MAX_BODY_BYTES} bytes`);

  let value: number | null;
  if (gate.type === 'prometheus') {
    const read = readPrometheusValue(text);
    if (typeof read === 'string') return fail(`prometheus query ${JSON.stringify(gate.query)}: ${read}`);
    value = read;
  } else if (gate.jsonPath !== undefined) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return fail(`probe ${gate.url} did not answer JSON`);
    }
    const found = readJsonPath(body, gate.jsonPath);
    value = toNumber(found);
    if (value === null) return fail(`${gate.jsonPath} in the answer of ${gate.url} is not a number (${JSON.stringify(found)?.slice(0, 80) ?? 'missing'})`);
  } else if (gate.min !== undefined || gate.max !== undefined) {
    value = toNumber(text.trim());
    if (value === null) return fail(`the answer of ${gate.url} is not a number`);
  } else {
    return { ok: true, value: null, reason: `probe ${gate.url} answered HTTP ${response.status}`, gate: described };
  }
  return compare(value, gate.min, gate.max, described);
}

function compare(value: number, min: number | undefined, max: number | undefined, gate: GateVerdict['gate']): GateVerdict {
  if (min !== undefined && value < min) return { ok: false, value, reason: `value ${value} is below the minimum ${min}`, gate };
  if (max !== undefined && value > max) return { ok: false, value, reason: `value ${value} is above the maximum ${max}`, gate };
  const bounds = [min !== undefined ? `>= ${min}` : null, max !== undefined ? `<= ${max}` : null].filter(Boolean).join(' and ');
  return { ok: true, value, reason: `value ${value}${bounds ? ` is ${bounds}` : ''}`, gate };
}

export function prometheusQueryUrl(base: string, query: string): string {
  return `${base.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
}

/**
 * The first sample of a Prometheus instant query answer (`vector` or `scalar`), or why there is
 * none. An empty vector is "no data" and fails the gate: write queries that answer 0 when all is
 * well (`… or vector(0)`).
 */
export function readPrometheusValue(text: string): number | string {
  let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return 'the answer is not JSON';
  }
  if (body.status !== 'success') return `the query failed: ${body.error ?? body.status ?? 'unknown error'}`;
  const data = body.data;
  let sample: unknown;
  if (data?.resultType === 'scalar') sample = data.result;
  else if (data?.resultType === 'vector' && Array.isArray(data.result)) {
    if (data.result.length === 0) return 'no data (empty vector)';
    sample = (data.result[0] as { value?: unknown }).value;
  } else return `unsupported result type ${data?.resultType ?? 'none'} (use an instant vector or scalar)`;
  const value = Array.isArray(sample) ? toNumber(sample[1]) : null;
  return value === null ? 'the sample is not a number' : value;
}

/** `$.a.b[0].c`, `a.b.0.c` or `$["a"]`-free dotted paths: enough for a metric in a JSON answer. */
export function readJsonPath(document: unknown, path: string): unknown {
  const parts = path
    .replace(/^\$\.?/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((part) => part !== undefined && part !== '');
  let current: unknown = document;
  for (const part of parts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const number = Number(value);
    return Number.isFinite(number) ? number : null;
  }
  return null;
}

async function readLimited(response: Response): Promise<string | null> {
  const buffer = await response.arrayBuffer().catch(() => new ArrayBuffer(0));
  if (buffer.byteLength > MAX_BODY_BYTES) return null;
  return new TextDecoder().decode(buffer);
}
