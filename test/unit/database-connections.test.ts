// How the embedded PostgreSQL is reached, and which connection failures count as "the database is
// away" (answered 503) rather than a bug (500).
import { describe, expect, it } from '@jest/globals';
import { createConnection } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDatabaseUnavailable } from '../../src/data/database-errors.ts';
import { socketDirFor } from '../../src/launcher/embedded-postgres.ts';

/** The error a connection to a Unix socket that does not exist fails with. */
function connectToMissingSocket(): Promise<Error> {
  const path = join(mkdtempSync(join(tmpdir(), 'no-server-')), '.s.PGSQL.5432');
  return new Promise((resolve) => createConnection(path).once('error', resolve));
}

describe('the embedded server\'s socket', () => {
  it('lives in the cluster folder when its path fits a socket address, and is left out otherwise', () => {
    expect(socketDirFor('/var/lib/flagship/cluster', 5432)).toBe('/var/lib/flagship/cluster');
    // sun_path takes 107 bytes: the folder, "/.s.PGSQL." and the port (92 + 10 + 5 = 107 fits).
    expect(socketDirFor(`/${'a'.repeat(91)}`, 54321)).toBe(`/${'a'.repeat(91)}`);
    expect(socketDirFor(`/${'a'.repeat(92)}`, 54321)).toBeNull();
    // The setting is a comma-separated list.
    expect(socketDirFor('/data/a,b', 5432)).toBeNull();
  });

  it('counts a connection to a socket with no server behind it as the database being away', async () => {
    const error = await connectToMissingSocket();
    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('no such file'), { code: 'ENOENT', syscall: 'open' }))).toBe(false);
  });
});
