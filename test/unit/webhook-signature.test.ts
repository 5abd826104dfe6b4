import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { backoffDelay } from '../../src/events/webhook-dispatcher.ts';
import { signWebhookPayload, verifyWebhookSignature } from '@flagship/sdk/webhooks';
import { generateWebhookSecret } from '../../src/events/generate-webhook-secret.ts';

describe('webhook signatures', () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ id: 42, type: 'flag.updated', entityKey: 'checkout', at: '2024-01-01T00:00:00.000Z', payload: {} });
  const now = 1_700_000_000;

  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> keyed with the whole secret', () => {
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(signWebhookPayload(secret, now, body)).toBe(`t=${now},v1=${expected}`);
  });

  it('verifies a fresh signature and refuses a changed body, another secret, an old timestamp or garbage', () => {
    const header = signWebhookPayload(secret, now, body);
    expect(verifyWebhookSignature(secret, header, body, { nowSeconds: now + 10 })).toEqual({ ok: true, timestamp: now });
    expect(verifyWebhookSignature(secret, header, body.replace('42', '43'), { nowSeconds: now })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyWebhookSignature(generateWebhookSecret(), header, body, { nowSeconds: now })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyWebhookSignature(secret, header, body, { nowSeconds: now + 301 })).toEqual({ ok: false, reason: 'too_old' });
    expect(verifyWebhookSignature(secret, header, body, { nowSeconds: now + 1_000, toleranceSeconds: 2_000 })).toMatchObject({ ok: true });
    for (const bad of [undefined, '', 'v1=abc', `t=${now}`, `t=soon,v1=abc`]) {
      expect(verifyWebhookSignature(secret, bad, body, { nowSeconds: now })).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('accepts any of several v1 entries, so a secret can be rotated', () => {
    const old = signWebhookPayload('whsec_old', now, body).split(',')[1];
    const header = `${signWebhookPayload(secret, now, body)},${old}`;
    expect(verifyWebhookSignature('whsec_old', header, body, { nowSeconds: now })).toMatchObject({ ok: true });
    expect(verifyWebhookSignature(secret, header, body, { nowSeconds: now })).toMatchObject({ ok: true });
  });
});

describe('backoffDelay', () => {
  const backoff = { baseMs: 1_000, maxMs: 300_000 };

  it('doubles per failure with equal jitter: between half and all of 1 s, 2 s, 4 s …', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, backoff, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((attempt) => backoffDelay(attempt, backoff, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('is capped at the maximum, however many failures', () => {
    expect(backoffDelay(30, backoff, () => 1)).toBe(300_000);
    expect(backoffDelay(1_000, backoff, () => 0)).toBe(150_000);
  });
});
