import { createPublicKey, verify } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import type { Session } from '../session.ts';

interface SignedBytes {
  bytes: Buffer;
  signature: string;
  source: string;
}

/** `snapshot get` and `snapshot verify`: the signed snapshot SDKs evaluate from. */
export function registerSnapshotCommands(program: Command, session: Session): void {
  const snapshot = program.command('snapshot').description('Download a signed snapshot, and verify one against the public key');

  snapshot
    .command('get')
    .description('Download the current snapshot with its signature (FILE and FILE.sig)')
    .requiredOption('-f, --file <path>', 'where to write the snapshot; the signature goes to <path>.sig')
    .action(async (options: { file: string }) => {
      const signed = await download(session, null);
      writeFileSync(options.file, signed.bytes);
      writeFileSync(`${options.file}.sig`, signed.signature);
      session.terminal.note(`Wrote ${options.file} (${signed.bytes.length} bytes) and ${options.file}.sig.`);
    });

  snapshot
    .command('verify [source]')
    .description('Check a snapshot\'s Ed25519 signature: a file (signature in <file>.sig or --signature), a URL (signature in X-Flags-Signature), or the server\'s current one')
    .option('--signature <base64>', 'the signature, when it is not beside the file')
    .option('--public-key <path>', 'the public key (SPKI PEM); default: the server\'s /v1/snapshot/public-key')
    .action(async (source: string | undefined, options: { signature?: string; publicKey?: string }) => {
      const signed = source && !/^https?:\/\//.test(source) ? readSigned(source, options.signature) : await download(session, source ?? null, options.signature);
      const pem = options.publicKey ? readFileSync(options.publicKey, 'utf8') : (await session.client().get<{ publicKeyPem: string }>('/v1/snapshot/public-key')).publicKeyPem;
      let key;
      try {
        key = createPublicKey(pem);
      } catch (error) {
        throw usageError(`the public key is not a PEM public key: ${(error as Error).message}`);
      }
      const valid = verify(null, signed.bytes, key, Buffer.from(signed.signature.trim(), 'base64'));
      if (!valid) throw new CliError(`the snapshot ${signed.source} does NOT verify: its signature does not match its bytes under this public key`, EXIT.failure);
      const body = JSON.parse(signed.bytes.toString('utf8')) as { version?: number; flags?: unknown[] | Record<string, unknown>; segments?: unknown[] | Record<string, unknown> };
      const count = (value: unknown) => (Array.isArray(value) ? value.length : value && typeof value === 'object' ? Object.keys(value).length : 0);
      printResult(session.terminal, { verified: true, source: signed.source, version: body.version ?? null, flags: count(body.flags), segments: count(body.segments), bytes: signed.bytes.length });
    });
}

function readSigned(path: string, signature: string | undefined): SignedBytes {
  if (!existsSync(path)) throw usageError(`${path} does not exist`);
  const signatureFile = `${path}.sig`;
  if (!signature && !existsSync(signatureFile)) throw usageError(`no signature: neither --signature nor ${signatureFile}`);
  return { bytes: readFileSync(path), signature: signature ?? readFileSync(signatureFile, 'utf8'), source: path };
}

async function download(session: Session, url: string | null, signature?: string): Promise<SignedBytes> {
  const client = session.client();
  // Identity encoding: the signature covers the uncompressed bytes, exactly as served.
  const response = url
    ? await fetch(url, { headers: { 'accept-encoding': 'identity', ...(client.connection.token ? { authorization: `Bearer ${client.connection.token}` } : {}) } })
    : await client.raw('GET', '/v1/snapshot', { headers: { 'accept-encoding': 'identity' } });
  if (!response.ok) throw new CliError(`GET ${url ?? '/v1/snapshot'} answered ${response.status}: ${(await response.text()).slice(0, 200)}`, response.status === 401 || response.status === 403 ? EXIT.unauthorized : EXIT.failure);
  const header = signature ?? response.headers.get('x-flags-signature');
  if (!header) throw new CliError(`${url ?? '/v1/snapshot'} has no X-Flags-Signature header; pass --signature`, EXIT.usage);
  return { bytes: Buffer.from(await response.arrayBuffer()), signature: header, source: url ?? `${client.connection.url}/v1/snapshot` };
}
