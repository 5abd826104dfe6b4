import { createOutboundClient, type OutboundClient } from '../../src/outbound/outbound-client.ts';
import { LOOPBACK_ALLOW_LIST, parseOutboundAllowList } from '../../src/outbound/outbound-policy.ts';

/** The production default: gates and webhooks reach public addresses only. */
export const publicOnlyPolicy = parseOutboundAllowList(undefined);

/** For tests whose gate targets and webhook receivers listen on 127.0.0.1, as the embedded default allows. */
export const loopbackPolicy = parseOutboundAllowList(LOOPBACK_ALLOW_LIST);

export function loopbackOutbound(): OutboundClient {
  return createOutboundClient({ policy: loopbackPolicy });
}

export function publicOnlyOutbound(): OutboundClient {
  return createOutboundClient({ policy: publicOnlyPolicy });
}
