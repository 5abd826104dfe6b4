import { randomBytes } from 'node:crypto';

/** 32 random bytes; the whole string (prefix included) is the HMAC key of `signWebhookPayload`. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
