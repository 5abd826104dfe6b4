/**
 * Webhook signatures, both halves: the service signs every delivery with `signWebhookPayload`, and
 * a service that consumes our webhooks checks them with `verifyWebhookSignature`. One module, so the
 * two cannot drift apart. Exported as `@flagship/sdk/webhooks`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every webhook request carries: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'x-flags-signature';

/** How old a signature may be before a receiver should refuse it (replay protection). */
const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Stripe-like: the MAC covers the timestamp and the exact body bytes (`"<t>.<body>"`), so neither
 * can be changed and an old request cannot be replayed once it falls outside the tolerance.
 */
export function signWebhookPayload(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: 'malformed' | 'mismatch' | 'too_old' };

/**
 * What a receiver does (docs/events.md shows the same steps): parse `t` and every `v1`, refuse a
 * timestamp further than `toleranceSeconds` from now, recompute the MAC over the raw body and
 * compare in constant time. Several `v1` entries are accepted so a secret can be rotated.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): SignatureCheck {
  if (!header) return { ok: false, reason: 'malformed' };
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestampText = parts.find(([key]) => key === 't')?.[1];
  const signatures = parts.filter(([key, value]) => key === 'v1' && value !== undefined).map(([, value]) => value as string);
  if (!timestampText || !/^\d+$/.test(timestampText) || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const timestamp = Number(timestampText);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS)) return { ok: false, reason: 'too_old' };
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex'));
  const matches = signatures.some((signature) => {
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { ok: true, timestamp } : { ok: false, reason: 'mismatch' };
}
