import { AppError } from '../errors.ts';
import type { OutboundClient } from '../outbound/outbound-client.ts';

/**
 * Refuses, as a validation_error naming each field, URLs that the outbound policy would refuse
 * (a private, loopback, link-local or metadata address, or a name resolving to one). This is the
 * check at write time, for early and clear feedback; each request is checked again when it is made.
 */
export async function refuseOutboundUrls(outbound: Pick<OutboundClient, 'refusal'>, urls: readonly { path: string; url: string }[]): Promise<void> {
  const refusals = await Promise.all(urls.map(async ({ path, url }) => ({ path, message: await outbound.refusal(url) })));
  const issues = refusals.filter((issue): issue is { path: string; message: string } => issue.message !== undefined);
  if (issues.length === 0) return;
  throw new AppError('validation_error', `invalid body: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`, { issues });
}
