import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { checkAddress, describeCategory, type AddressCategory, type OutboundPolicy } from './outbound-policy.ts';

/** What a name resolves to; `dns.lookup` (the system resolver, /etc/hosts included) unless a test passes its own. */
export type ResolveFunction = (hostname: string) => Promise<{ address: string; family: number }[]>;

export type OutboundFailureKind = 'refused' | 'timeout' | 'aborted' | 'network' | 'too_large';

/**
 * Why a request could not be made or read. `message` is safe to show to whoever configured the URL:
 * it says what went wrong, never what the remote side answered, nor which address a name resolved to.
 */
export class OutboundError extends Error {
  readonly kind: OutboundFailureKind;
  /** For a refusal: the category of the address; for a network error: the system error code. */
  readonly detail: string | undefined;

  constructor(kind: OutboundFailureKind, message: string, detail?: string) {
    super(message);
    this.name = 'OutboundError';
    this.kind = kind;
    this.detail = detail;
  }
}

export interface OutboundRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Ends the request early (a dispatcher stopping); reported as `aborted`, not as a timeout. */
  signal?: AbortSignal;
  /** The answer's body is read up to this many bytes (more is `too_large`); 0 discards it unread. */
  maxBodyBytes: number;
}

export interface OutboundResponse {
  status: number;
  body: Buffer;
}

export interface OutboundClient {
  readonly policy: OutboundPolicy;
  /**
   * Checks a URL as it is written (a gate, a webhook): the scheme, and the address its host is or
   * resolves to. Returns why it is refused, or undefined. A name that does not resolve now passes:
   * every request checks again, and that check is the one that counts.
   */
  refusal(url: string): Promise<string | undefined>;
  /** One request under the policy; throws OutboundError. Redirects are answers, never followed. */
  request(url: string, options: OutboundRequest): Promise<OutboundResponse>;
}

/** How long a write waits for DNS before it lets the URL through to the per-request check. */
const WRITE_CHECK_RESOLVE_MS = 2_000;

const systemResolve: ResolveFunction = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function refusedBy(category: AddressCategory, host: string, literal: boolean): OutboundError {
  // A resolved address stays out of the message: it would make the service a DNS oracle for internal names.
  const what = literal ? `${host} is ${describeCategory(category)}` : `${host} resolves to ${describeCategory(category)}`;
  return new OutboundError('refused', `refused by the outbound policy: ${what} (allow it with FLAGS_OUTBOUND_ALLOW)`, category);
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Outbound HTTP for URLs that users configure. Every request resolves the host once, checks every
 * address it resolves to against the policy, and connects to the checked address (the socket's
 * lookup answers with it), so a name that resolves differently a moment later (DNS rebinding)
 * cannot move the connection elsewhere. TLS still verifies the certificate against the host name.
 */
export function createOutboundClient(options: { policy: OutboundPolicy; resolve?: ResolveFunction }): OutboundClient {
  const { policy } = options;
  const resolve = options.resolve ?? systemResolve;

  /** The address to connect to, checked; throws OutboundError when the policy refuses or the name does not resolve. */
  async function pinnedAddress(url: URL): Promise<{ address: string; family: number }> {
    const host = hostOf(url);
    const literalFamily = isIP(host);
    if (literalFamily !== 0) {
      const verdict = checkAddress(policy, host);
      if (!verdict.allowed) throw refusedBy(verdict.category, host, true);
      return { address: host, family: literalFamily };
    }
    let addresses: { address: string; family: number }[];
    try {
      // RFC 6761: localhost names are loopback, whatever a resolver (or its absence) says.
      addresses = isLocalhostName(host) ? [{ address: '127.0.0.1', family: 4 }] : await resolve(host);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'ENOTFOUND';
      throw new OutboundError('network', `could not resolve ${host} (${code})`, code);
    }
    if (addresses.length === 0) throw new OutboundError('network', `could not resolve ${host} (ENOTFOUND)`, 'ENOTFOUND');
    // Every address must pass, not just the first: which one a client would pick is not ours to predict.
    for (const { address } of addresses) {
      const verdict = checkAddress(policy, address);
      if (!verdict.allowed) throw refusedBy(verdict.category, host, false);
    }
    return addresses[0]!;
  }

  return {
    policy,

    async refusal(text) {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return 'is not an absolute URL';
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
      const checked = pinnedAddress(url).then(
        () => undefined,
        (error: unknown) => (error instanceof OutboundError && error.kind === 'refused' ? error.message : undefined),
      );
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<undefined>((done) => {
        timer = setTimeout(() => done(undefined), WRITE_CHECK_RESOLVE_MS);
      });
      try {
        return await Promise.race([checked, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },

    async request(text, request) {
      const url = new URL(text);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('refused', 'refused by the outbound policy: only http and https URLs are requested');
      const timeout = AbortSignal.timeout(request.timeoutMs);
      const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
      const failure = (error: unknown): OutboundError => {
        if (error instanceof OutboundError) return error;
        if (request.signal?.aborted) return new OutboundError('aborted', 'the request was stopped');
        if (timeout.aborted) return new OutboundError('timeout', `timed out after ${request.timeoutMs} ms`);
        const code = (error as { code?: string }).code ?? 'ERROR';
        return new OutboundError('network', `connection failed (${code})`, code);
      };
      try {
        const pinned = await abortable(pinnedAddress(url), signal);
        // The connection goes to the address checked above, whatever the name resolves to by now.
        const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
          if ((lookupOptions as { all?: boolean }).all) (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [pinned]);
          else callback(null, pinned.address, pinned.family);
        };
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const response = await new Promise<IncomingMessage>((resolveResponse, reject) => {
          const outgoing = send(url, { method: request.method, headers: request.headers, lookup, signal, agent: false }, resolveResponse);
          outgoing.once('error', reject);
          outgoing.end(request.body);
        });
        const body = await readBody(response, request.maxBodyBytes);
        return { status: response.statusCode ?? 0, body };
      } catch (error) {
        throw failure(error);
      }
    },
  };
}

/** Rejects as soon as `signal` aborts, even while `work` (a DNS lookup, which cannot be cancelled) goes on. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolveWork, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolveWork(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

async function readBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (maxBytes === 0) {
    response.resume();
    return Buffer.alloc(0);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      response.destroy();
      throw new OutboundError('too_large', `the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
