import { OutboundError, type OutboundClient } from '../outbound/outbound-client.ts';
import type { RolloutGate } from '../domain/rollout-plan.ts';

/** What a gate check found; `reason` is what the pause or rollback and its event say. */
export interface GateVerdict {
  ok: boolean;
  /** The number compared with the thresholds, when there was one. */
  value: number | null;
  reason: string;
  gate: { type: RolloutGate['type']; url: string; query?: string; jsonPath?: string; min?: number; max?: number };
}

/** How a gate reaches its URL: the outbound client, under the operator's policy. */
export type GateProbe = Pick<OutboundClient, 'request'>;

const DEFAULT_TIMEOUT_MS = 5_000;
/** A probe answer larger than this is not a metric. */
const MAX_BODY_BYTES = 1_048_576;

/**
 * Checks a gate once. Fail closed: a probe that cannot be made (refused by the outbound policy,
 * network error, timeout, non-2xx, unreadable number, no data) fails the gate, so a broken metrics
 * pipeline halts a rollout rather than waving it through. Never throws for a probe problem; the
 * verdict says what went wrong. Reasons never quote the answer: whoever can write a gate can read
 * its reason, and a gate must not become a way to read what an internal URL answers.
 */
export async function checkGate(gate: RolloutGate, probe: GateProbe): Promise<GateVerdict> {
  const described: GateVerdict['gate'] = {
    type: gate.type,
    url: gate.url,
    ...(gate.type === 'prometheus' ? { query: gate.query } : {}),
    ...(gate.type === 'http' && gate.jsonPath !== undefined ? { jsonPath: gate.jsonPath } : {}),
    ...(gate.min !== undefined ? { min: gate.min } : {}),
    ...(gate.max !== undefined ? { max: gate.max } : {}),
  };
  const fail = (reason: string, value: number | null = null): GateVerdict => ({ ok: false, value, reason, gate: described });
  const url = gate.type === 'prometheus' ? prometheusQueryUrl(gate.url, gate.query) : gate.url;
  let status: number;
  let text: string;
  try {
    const response = await probe.request(url, {
      method: 'GET',
      headers: { accept: 'application/json, text/plain;q=0.9' },
      timeoutMs: gate.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBodyBytes: MAX_BODY_BYTES,
    });
    status = response.status;
    text = response.body.toString('utf8');
  } catch (error) {
    if (error instanceof OutboundError && error.kind === 'too_large') return fail(`probe ${gate.url} answered more than ${MAX_BODY_BYTES} bytes`);
    if (error instanceof OutboundError && error.kind === 'refused') return fail(`probe ${gate.url} ${error.message}`);
    return fail(`probe ${gate.url} failed: ${error instanceof OutboundError ? error.message : 'unknown error'}`);
  }
  if (status >= 300 && status < 400) return fail(`probe ${gate.url} answered HTTP ${status}; redirects are not followed`);
  if (status < 200 || status >= 300) return fail(`probe ${gate.url} answered HTTP ${status}`);

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
    value = toNumber(readJsonPath(body, gate.jsonPath));
    if (value === null) return fail(`${gate.jsonPath} in the answer of ${gate.url} is missing or not a number`);
  } else if (gate.min !== undefined || gate.max !== undefined) {
    value = toNumber(text.trim());
    if (value === null) return fail(`the answer of ${gate.url} is not a number`);
  } else {
    return { ok: true, value: null, reason: `probe ${gate.url} answered HTTP ${status}`, gate: described };
  }
  return compare(value, gate.min, gate.max, described);
}

function compare(value: number, min: number | undefined, max: number | undefined, gate: GateVerdict['gate']): GateVerdict {
  // The number stays in `value` (the event's details, for whoever runs the rollout) but out of the
  // reason, which is text that other tools copy around.
  if (min !== undefined && value < min) return { ok: false, value, reason: `the value is below the minimum ${min}`, gate };
  if (max !== undefined && value > max) return { ok: false, value, reason: `the value is above the maximum ${max}`, gate };
  const bounds = [min !== undefined ? `>= ${min}` : null, max !== undefined ? `<= ${max}` : null].filter(Boolean).join(' and ');
  return { ok: true, value, reason: bounds ? `the value is ${bounds}` : 'the value is a number', gate };
}

function prometheusQueryUrl(base: string, query: string): string {
  return `${base.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
}

const KNOWN_RESULT_TYPES = new Set(['matrix', 'string']);

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
  // Prometheus's own error text is not repeated: the URL might not be Prometheus at all.
  if (body.status !== 'success') return 'the query failed (the answer\'s status is not "success")';
  const data = body.data;
  let sample: unknown;
  if (data?.resultType === 'scalar') sample = data.result;
  else if (data?.resultType === 'vector' && Array.isArray(data.result)) {
    if (data.result.length === 0) return 'no data (empty vector)';
    sample = (data.result[0] as { value?: unknown }).value;
  } else return `unsupported result type ${KNOWN_RESULT_TYPES.has(String(data?.resultType)) ? data?.resultType : '(not a Prometheus one)'} (use an instant vector or scalar)`;
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
