import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createFolderSnapshotStore } from '../../src/snapshots/snapshot-store.ts';

const document = (version: number) => ({ version, body: Buffer.from(JSON.stringify({ version })), signature: `signature-of-${version}` });

function storedVersions(directory: string): number[] {
  const names = readdirSync(directory);
  const versions = names.flatMap((name) => /^snapshot-(\d+)\.json$/.exec(name)?.[1] ?? []).map(Number).sort((a, b) => a - b);
  // Every copy kept keeps its signature, and no signature outlives its copy.
  expect(names.filter((name) => name.startsWith('snapshot-') && name.endsWith('.sig')).sort()).toEqual(versions.map((version) => `snapshot-${version}.json.sig`).sort());
  return versions;
}

describe('the folder snapshot store', () => {
  it('keeps the versions stored last and latest.json, and removes the older copies with their signatures', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'snapshots-'));
    const store = createFolderSnapshotStore(directory, { versionsKept: 3 });
    for (const version of [10, 11, 12, 13, 14]) await store.put(document(version));
    expect(storedVersions(directory)).toEqual([10, 11, 12, 13, 14]);

    expect(await store.removeOldVersions()).toBe(2);
    expect(storedVersions(directory)).toEqual([12, 13, 14]);
    expect(JSON.parse(readFileSync(join(directory, 'latest.json'), 'utf8'))).toEqual({ version: 14 });
    expect(await store.removeOldVersions()).toBe(0);
  });

  it('keeps the copy it stored last even when its version is lower (a service pointed at a new database)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'snapshots-'));
    const store = createFolderSnapshotStore(directory, { versionsKept: 2 });
    for (const version of [500, 501, 502]) await store.put(document(version));
    await store.put(document(3));

    expect(await store.removeOldVersions()).toBe(2);
    expect(storedVersions(directory)).toEqual([3, 502]);
    expect(readFileSync(join(directory, 'latest.json.sig'), 'utf8')).toBe('signature-of-3');
  });

  it('removes an old signature whose copy is missing (a crash between the two writes)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'snapshots-'));
    const store = createFolderSnapshotStore(directory, { versionsKept: 2 });
    writeFileSync(join(directory, 'snapshot-7.json.sig'), 'signature-of-7');
    const earlier = new Date(Date.now() - 60_000);
    utimesSync(join(directory, 'snapshot-7.json.sig'), earlier, earlier);
    for (const version of [8, 9]) await store.put(document(version));

    expect(await store.removeOldVersions()).toBe(1);
    expect(storedVersions(directory)).toEqual([8, 9]);
  });
});
