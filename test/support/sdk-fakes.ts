import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { type Flag, type Segment } from '@flagship/engine';
import { validateFlag, validateSegment } from '@flagship/engine/validate';
import { BOOTSTRAP_FORMAT } from '@flagship/sdk';

/**
 * The SDK's side of the snapshot is its wire format (GET /v1/snapshot: the JSON body, its Ed25519
 * signature, a content ETag), so the fakes here build it themselves rather than through the
 * server's code.
 */
export interface SnapshotSigner {
  privateKey: KeyObject;
  publicKeyPem: string;
}

export interface BuiltSnapshot {
  version: number;
  body: Buffer;
  signature: string;
  etag: string;
}

export function createSigner(): SnapshotSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function buildSnapshot(content: { version: number; flags: Flag[]; segments: Segment[]; killswitches: string[] }, signer: SnapshotSigner): BuiltSnapshot {
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1);
  const document = {
    version: content.version,
    generatedAt: new Date().toISOString(),
    flags: [...content.flags].sort(byKey),
    segments: [...content.segments].sort(byKey),
    killswitches: [...content.killswitches].sort(),
  };
  const body = Buffer.from(JSON.stringify(document));
  // Content-addressed like the service's: the same flags give the same ETag whatever the version.
  const etag = `"${createHash('sha256').update(JSON.stringify([document.flags, document.segments, document.killswitches])).digest('base64url').slice(0, 16)}"`;
  return { version: content.version, body, signature: sign(null, body, signer.privateKey).toString('base64'), etag };
}

export function flag(input: Record<string, unknown>, version = 1): Flag {
  const result = validateFlag(input);
  if (!result.ok) throw new Error(`invalid test flag: ${JSON.stringify(result.issues)}`);
  return { ...result.value, state: 'active', version };
}

export function segment(input: Record<string, unknown>): Segment {
  const result = validateSegment(input);
  if (!result.ok) throw new Error(`invalid test segment: ${JSON.stringify(result.issues)}`);
  return result.value;
}

export function signSnapshot(signer: SnapshotSigner, content: { version: number; flags?: Flag[]; segments?: Segment[]; killswitches?: string[] }): BuiltSnapshot {
  return buildSnapshot({ version: content.version, flags: content.flags ?? [], segments: content.segments ?? [], killswitches: content.killswitches ?? [] }, signer);
}

export function bootstrapText(snapshot: BuiltSnapshot): string {
  return JSON.stringify({ format: BOOTSTRAP_FORMAT, etag: snapshot.etag, signature: snapshot.signature, snapshot: snapshot.body.toString('utf8') });
}

type Mode = 'serve' | 'down' | 'error500' | 'tamper';

/**
 * A fake of the service's SDK-facing HTTP surface as a `fetch` function: the snapshot with ETag and
 * 304, exposures, and an event stream the test pushes events into. Counts every request by path.
 */
export class FakeService {
  snapshot: BuiltSnapshot | undefined;
  mode: Mode = 'serve';
  /** When set, served instead of `snapshot` (a replay of an older signed one). */
  replay: BuiltSnapshot | undefined;
  exposureStatus = 202;
  readonly requests: { path: string; headers: Record<string, string>; body?: string }[] = [];
  readonly exposures: unknown[][] = [];
  streamStatus = 200;
  #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>).map(([key, value]) => [key.toLowerCase(), value]));
    this.requests.push({ path: url.pathname, headers, ...(typeof init?.body === 'string' ? { body: init.body } : {}) });
    if (this.mode === 'down') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    if (this.mode === 'error500') return new Response('{"error":{"code":"internal"}}', { status: 500 });
    if (url.pathname === '/v1/snapshot') return this.#snapshot(headers);
    if (url.pathname === '/v1/exposures') {
      this.exposures.push((JSON.parse(String(init?.body)) as { exposures: unknown[] }).exposures);
      return new Response('{}', { status: this.exposureStatus });
    }
    if (url.pathname === '/v1/events') return this.#stream(init?.signal ?? undefined);
    return new Response('{"error":{"code":"not_found"}}', { status: 404 });
  };

  count(path: string): number {
    return this.requests.filter((request) => request.path === path).length;
  }

  /** Sends one SSE event to every open stream. */
  push(id: number, type: string): void {
    const chunk = new TextEncoder().encode(`id: ${id}\nevent: ${type}\ndata: {"id":${id},"type":"${type}"}\n\n`);
    for (const controller of this.#streams) controller.enqueue(chunk);
  }

  openStreams(): number {
    return this.#streams.size;
  }

  #snapshot(headers: Record<string, string>): Response {
    const snapshot = this.replay ?? this.snapshot;
    if (!snapshot) return new Response('{"error":{"code":"unavailable"}}', { status: 503 });
    const common = { etag: snapshot.etag, 'x-flags-snapshot-version': String(snapshot.version), 'x-flags-signature': snapshot.signature };
    if (headers['if-none-match'] === snapshot.etag) return new Response(null, { status: 304, headers: common });
    let body: Uint8Array = snapshot.body;
    if (this.mode === 'tamper') {
      body = Buffer.from(snapshot.body.toString('utf8').replace('"defaultValue":false', '"defaultValue":true '));
    }
    return new Response(body, { status: 200, headers: { ...common, 'content-type': 'application/json' } });
  }

  #stream(signal: AbortSignal | undefined): Response {
    if (this.streamStatus !== 200) return new Response('{"error":{"code":"permission_denied"}}', { status: this.streamStatus });
    let own: ReadableStreamDefaultController<Uint8Array> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        own = controller;
        this.#streams.add(controller);
        controller.enqueue(new TextEncoder().encode('retry: 2000\n: stream open\n\n'));
      },
      cancel: () => {
        if (own) this.#streams.delete(own);
      },
    });
    signal?.addEventListener('abort', () => {
      if (!own) return;
      this.#streams.delete(own);
      try {
        own.error(signal.reason);
      } catch {
        // Already closed.
      }
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }

  /** Ends every open stream, as a restarting server would. */
  endStreams(): void {
    for (const controller of this.#streams) controller.close();
    this.#streams.clear();
  }
}
