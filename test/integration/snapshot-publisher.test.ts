import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import S3rver from 's3rver';
import { z } from 'zod';
import { sql } from '../../src/data/sql.ts';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { buildSnapshot } from '../../src/snapshots/build-snapshot.ts';
import { loadSnapshotSigner } from '../../src/snapshots/signing-key.ts';
import { buildTokenList, readPublishedFlagSet, readPublishedTokenList } from '../../src/snapshots/published-read-model.ts';
import { createFolderSnapshotStore, createS3SnapshotStore, TOKEN_LIST_NAME } from '../../src/snapshots/snapshot-store.ts';
import { hashToken } from '../../src/data/tokens.ts';
import { DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS } from '../../src/config.ts';
import { startWorker, type RunningWorker } from '../../src/worker/start-worker.ts';
import { SNAPSHOT_PUBLISHER_WORKFLOW_ID } from '../../src/workflows/snapshot-publisher-workflow.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { testAuditSigner } from '../support/database.ts';
import { eventually } from '../support/eventually.ts';
import { testLog } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { freePorts } from '../support/ports.ts';


/** Small, so that a few changes outgrow it. */
const VERSIONS_KEPT = 3;

describe('the snapshot publisher workflow', () => {
  let api: TestApi;
  let worker: RunningWorker;
  const dataDir = mkdtempSync(join(tmpdir(), 'publisher-'));
  const snapshotDir = join(dataDir, 'snapshots');
  const signer = loadSnapshotSigner({ dataDir });

  beforeAll(async () => {
    chmodSync(dataDir, 0o755);
    api = await startTestApi();
    worker = await startWorker({
      databaseUrl: api.db.url,
      temporalAddress: requireEnv(ENV.temporalAddress),
      temporalNamespace: requireEnv(ENV.temporalNamespace),
      taskQueue: `publisher-${randomUUID()}`,
      workflowBundle: { codePath: requireEnv(ENV.workflowBundlePath) },
      snapshots: { signer, store: createFolderSnapshotStore(snapshotDir, { versionsKept: VERSIONS_KEPT }) },
      auditSigner: testAuditSigner(),
      log: testLog,
      outboundPolicy: publicOnlyPolicy,
    });
  });
  afterAll(async () => {
    await worker.stop();
    await api.close();
  });

  const latest = () => (existsSync(join(snapshotDir, 'latest.json')) ? (JSON.parse(readFileSync(join(snapshotDir, 'latest.json'), 'utf8')) as { version: number; flags: { key: string }[] }) : null);

  it('publishes a change within two seconds, signed, and reports its age in /health', async () => {
    const created = await api.request('POST', '/v1/flags', { body: { key: 'published-one', type: 'boolean', defaultValue: true } });
    expect(created.status).toBe(201);
    const seen = await eventually(latest, (snapshot) => snapshot?.flags.some((flag) => flag.key === 'published-one') ?? false, 2_000);
    expect(seen.ms).toBeLessThan(2_000);
    const bytes = readFileSync(join(snapshotDir, 'latest.json'));
    const signature = Buffer.from(readFileSync(join(snapshotDir, 'latest.json.sig'), 'utf8'), 'base64');
    expect(verify(null, bytes, createPublicKey(signer.publicKeyPem), signature)).toBe(true);
    const health = await api.request('GET', '/health', { token: null });
    expect(health.body.snapshot).toMatchObject({ version: seen.value!.version, ageSeconds: expect.any(Number) });
  });

  it(`keeps the last ${VERSIONS_KEPT} published versions beside latest.json and removes older copies`, async () => {
    for (let change = 1; change <= VERSIONS_KEPT + 2; change += 1) {
      const key = `kept-versions-${change}`;
      expect((await api.request('POST', '/v1/flags', { body: { key, type: 'boolean', defaultValue: true } })).status).toBe(201);
      await eventually(latest, (snapshot) => snapshot?.flags.some((flag) => flag.key === key) ?? false, 5_000);
    }
    const newest = latest()!.version;
    const versioned = () => readdirSync(snapshotDir).filter((name) => /^snapshot-\d+\.json(\.sig)?$/.test(name)).sort();
    const kept = await eventually(versioned, (names) => names.length === VERSIONS_KEPT * 2, 5_000);
    expect(kept.value).toContain(`snapshot-${newest}.json`);
    expect(kept.value).toContain(`snapshot-${newest}.json.sig`);
  });

  it('keeps the live tokens beside the snapshot, signed, as hashes only, and brings the list up to date when a token changes', async () => {
    const publicKey = createPublicKey(signer.publicKeyPem);
    const store = createFolderSnapshotStore(snapshotDir);
    const created = await api.request('POST', '/v1/tokens', { body: { name: 'published-token', owner: { id: 'svc-published', kind: 'service' }, scopes: ['feature_flag:evaluate'] } });
    const listed = await eventually(() => readPublishedTokenList(store, publicKey, testLog), (list) => list?.tokens.some((token) => token.id === created.body.id) ?? false, 5_000);
    const token = listed.value!.tokens.find((one) => one.id === created.body.id)!;
    expect(token).toEqual({ id: created.body.id, name: 'published-token', owner: { id: 'svc-published', name: 'svc-published', kind: 'service' }, tokenHash: hashToken(created.body.token), scopes: ['feature_flag:evaluate'], projectIds: null });
    expect(readFileSync(join(snapshotDir, TOKEN_LIST_NAME), 'utf8')).not.toContain(created.body.token);
    // Only the owner may read it: it lies in the data folder, not where SDKs read snapshots from.
    expect(statSync(join(snapshotDir, TOKEN_LIST_NAME)).mode & 0o777).toBe(0o600);

    await api.request('DELETE', `/v1/tokens/${created.body.id}`);
    await eventually(() => readPublishedTokenList(store, publicKey, testLog), (list) => list !== null && !list.tokens.some((one) => one.id === created.body.id), 5_000);
    // A list signed by another key is not believed.
    const otherKey = createPublicKey(loadSnapshotSigner({ dataDir: mkdtempSync(join(tmpdir(), 'other-key-')) }).publicKeyPem);
    expect(await readPublishedTokenList(store, otherKey, testLog)).toBeNull();
  });

  it('coalesces a burst of a hundred changes into a few signals and a few publications', async () => {
    const before = await api.db.pool.oneFirst(countPublications());
    const signalsBefore = await publisherSignals();
    const started = Date.now();
    for (let index = 0; index < 100; index += 1) {
      await api.request('POST', '/v1/flags', { body: { key: `burst-${index}`, type: 'boolean', defaultValue: false } });
    }
    const burstMs = Date.now() - started;
    const published = await eventually(latest, (snapshot) => snapshot?.flags.some((flag) => flag.key === 'burst-99') ?? false, 3_000);
    // The publisher writes the file before it records the publication: wait for the record as well.
    await eventually(() => api.db.pool.oneFirst(countPublications(published.value!.version)), (count) => count > 0, 3_000);
    const after = await api.db.pool.oneFirst(countPublications());
    // Writing a hundred flags through the API takes a second or more here; one publication per
    // debounce window, never one per change.
    expect(after - before).toBeGreaterThanOrEqual(1);
    expect(after - before).toBeLessThanOrEqual(10);
    // The worker signals at most once per DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS, plus the one
    // that carries the last changes: never once per change.
    const signals = (await publisherSignals()) - signalsBefore;
    expect(signals).toBeGreaterThanOrEqual(1);
    expect(signals).toBeLessThanOrEqual(Math.ceil(burstMs / DEFAULT_SNAPSHOT_SIGNAL_INTERVAL_MS) + 2);
  });

  it('runs as one long-lived workflow the Temporal UI lists with its current details', async () => {
    const connection = await Connection.connect({ address: requireEnv(ENV.temporalAddress) });
    try {
      const handle = new Client({ connection, namespace: requireEnv(ENV.temporalNamespace) }).workflow.getHandle(SNAPSHOT_PUBLISHER_WORKFLOW_ID);
      const description = await handle.describe();
      expect(description.status.name).toBe('RUNNING');
      if (process.env.FLAGS_RECORD_HISTORIES) {
        writeFileSync(new URL('../fixtures/histories/snapshot-publisher.json', import.meta.url), JSON.stringify(JSON.parse(historyToJSON(await handle.fetchHistory())), null, 1));
      }
    } finally {
      await connection.close();
    }
  });
});

/** How many `changed` signals the publisher workflow has received (its current run). */
async function publisherSignals(): Promise<number> {
  const connection = await Connection.connect({ address: requireEnv(ENV.temporalAddress) });
  try {
    const history = await new Client({ connection, namespace: requireEnv(ENV.temporalNamespace) }).workflow.getHandle(SNAPSHOT_PUBLISHER_WORKFLOW_ID).fetchHistory();
    return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
  } finally {
    await connection.close();
  }
}

function countPublications(fromVersion = 0) {
  return sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM snapshots WHERE version >= ${fromVersion}`;
}

describe('the S3 snapshot store', () => {
  let server: S3rver;
  let endpoint: string;
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  beforeAll(async () => {
    const port = await freePorts(1);
    server = new S3rver({ port, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: 'flags-snapshots', configs: [] }] });
    await server.run();
    endpoint = `http://127.0.0.1:${port}`;
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  });
  afterAll(async () => {
    await server.close();
  });

  it('stores the version and latest.json with the signature, readable back', async () => {
    const signer = loadSnapshotSigner({ dataDir: directory });
    const snapshot = buildSnapshot({ version: 42, flags: [], segments: [], killswitches: ['payments'] }, signer, Date.now());
    const store = createS3SnapshotStore({ bucket: 'flags-snapshots', prefix: 'prod', endpoint });
    expect(await store.put(snapshot)).toBe('s3://flags-snapshots/prod/snapshot-42.json');
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true });
    const object = await client.send(new GetObjectCommand({ Bucket: 'flags-snapshots', Key: 'prod/latest.json' }));
    const body = Buffer.from(await object.Body!.transformToByteArray());
    expect(body.equals(snapshot.body)).toBe(true);
    expect(object.Metadata?.['flags-signature']).toBe(snapshot.signature);
    expect(verify(null, body, createPublicKey(signer.publicKeyPem), Buffer.from(snapshot.signature, 'base64'))).toBe(true);

    // What an API process starting while PostgreSQL is down reads back, with the signature checked.
    const publicKey = createPublicKey(signer.publicKeyPem);
    expect(await readPublishedFlagSet(store, publicKey, testLog)).toEqual({ version: 42, flags: [], segments: [], killswitches: new Set(['payments']) });
    expect(await readPublishedTokenList(store, publicKey, testLog)).toBeNull();
    const tokens = { version: 7, tokens: [{ id: 'tok_1', name: 'svc', owner: { id: 'svc', name: 'Service', kind: 'service' as const }, tokenHash: hashToken('ffs_secret'), scopes: ['feature_flag:evaluate' as const], projectIds: ['p1'] }] };
    expect(await store.putTokenList(buildTokenList(tokens, signer, Date.now()))).toBe(`s3://flags-snapshots/prod/${TOKEN_LIST_NAME}`);
    expect(await readPublishedTokenList(store, publicKey, testLog)).toEqual(tokens);

    // A front-end token that requires signed contexts is published as such, its signing secret never.
    const browser = { id: 'tok_2', name: 'web', owner: { id: 'web', name: 'Web', kind: 'service' as const }, tokenHash: hashToken('ffs_web'), scopes: ['feature_flag:browser' as const], projectIds: ['p1'], signedContext: true, contextSigningSecret: 'ffc_never-published' };
    const list = buildTokenList({ version: 8, tokens: [browser] }, signer, Date.now());
    expect(list.body.toString()).not.toContain('ffc_never-published');
    await store.putTokenList(list);
    const { contextSigningSecret: _secret, ...published } = browser;
    expect(await readPublishedTokenList(store, publicKey, testLog)).toEqual({ version: 8, tokens: [published] });
  });

  it('removes the versioned objects but the newest, never latest.json', async () => {
    const signer = loadSnapshotSigner({ dataDir: directory });
    const store = createS3SnapshotStore({ bucket: 'flags-snapshots', prefix: 'kept', endpoint, versionsKept: 2 });
    for (const version of [1, 2, 3, 4]) await store.put(buildSnapshot({ version, flags: [], segments: [], killswitches: [] }, signer, Date.now()));
    expect(await store.removeOldVersions()).toBe(2);
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'flags-snapshots', Prefix: 'kept/' }));
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual(['kept/latest.json', 'kept/latest.json.sig', 'kept/snapshot-3.json', 'kept/snapshot-3.json.sig', 'kept/snapshot-4.json', 'kept/snapshot-4.json.sig']);
    expect(await store.removeOldVersions()).toBe(0);
  });
});
