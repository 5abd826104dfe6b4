import { describe, expect, it } from '@jest/globals';
import { startApi } from '../../src/api/start-api.ts';
import { migrate } from '../../src/data/migrate.ts';
import { generateTokenSecret } from '../../src/data/tokens.ts';
import { ENV, requireEnv } from '../setup/test-environment.ts';
import { createTestDatabase } from '../support/database.ts';
import { testLog } from '../support/logger.ts';
import { publicOnlyPolicy } from '../support/outbound.ts';
import { freePorts } from '../support/ports.ts';

describe('an API process on external parts (src/api/main.ts)', () => {
  it('starts on a database nobody has migrated yet: the migrations run before the flag set is read', async () => {
    const database = await createTestDatabase({ migrated: false });
    const adminToken = generateTokenSecret();
    const api = await startApi({
      databaseUrl: database.url,
      prepareDatabase: () => migrate({ databaseUrl: database.ownerUrl }),
      temporalAddress: requireEnv(ENV.temporalAddress),
      temporalNamespace: requireEnv(ENV.temporalNamespace),
      taskQueue: 'flags-test',
      dataDir: requireEnv(ENV.scratchDir),
      host: '127.0.0.1',
      port: await freePorts(1),
      adminToken,
      outboundPolicy: publicOnlyPolicy,
      log: testLog,
    });
    try {
      expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
      const created = await fetch(`${api.url}/v1/flags`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'first', type: 'boolean', defaultValue: true }),
      });
      expect(created.status).toBe(201);
    } finally {
      await api.stop();
      await database.drop();
    }
  });
});
