// Every write route is either gated by two-person approval or documented as exempt: the operations
// come from the API's own OpenAPI document (written by the route registry from every registered
// route), the exemptions from docs/approvals.md, and each gated route is proven gated here by filing
// a change request through it against a high-impact flag. A new write route fails this test until
// it is gated (and given a probe below) or documented as exempt, with a reason.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from '../../src/data/sql.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';

const WRITE_METHODS = new Set(['post', 'patch', 'put', 'delete']);
const approvalsDoc = readFileSync(new URL('../../docs/approvals.md', import.meta.url), 'utf8');

/** The rows of the "Write routes exempt from approval" table: operation id → reason. */
function documentedExemptions(): Map<string, string> {
  const section = approvalsDoc.split('### Write routes exempt from approval')[1]?.split(/\n#{2,3} /)[0] ?? '';
  const exempt = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = /^\| (.+?) \| (.+?) \|$/.exec(line);
    if (!cells || cells[1] === 'operation' || cells[1]!.startsWith('---')) continue;
    for (const [, operationId] of cells[1]!.matchAll(/`([A-Za-z]+)`/g)) exempt.set(operationId!, cells[2]!.trim());
  }
  return exempt;
}

describe('every write route is gated by approval or documented as exempt', () => {
  let harness: RolloutHarness;
  let writeOperations: Map<string, string>;

  /** Each gated operation, called so that it reaches a high-impact flag: it must file a change request. */
  const gatedProbes: Record<string, () => Promise<{ status: number; body: Json }>> = {
    updateFlag: () => harness.api.request('PATCH', '/v1/flags/guarded', { body: { description: 'changed', version: 1 } }),
    archiveFlag: () => harness.api.request('POST', '/v1/flags/guarded/archive', { body: { version: 1 } }),
    restoreFlag: () => harness.api.request('POST', '/v1/flags/guarded-archived/restore', { body: {} }),
    scheduleRollout: () => harness.api.request('POST', '/v1/flags/guarded/rollouts', { body: { steps: [{ percentage: 10, after: '1h' }] } }),
    updateSegment: () => harness.api.request('PATCH', '/v1/segments/guarded-segment', { body: { name: 'renamed', version: 1 } }),
    scheduleFlagChanges: () => harness.api.request('POST', '/v1/flags/guarded/scheduled-changes', { body: { patch: { description: 'later' }, after: '1h', version: 1 } }),
    rescheduleFlagScheduledChange: () => harness.api.request('POST', `/v1/flags/guarded-scheduled/scheduled-changes/${scheduledBeforeMarking}/reschedule`, { body: { after: '2h' } }),
  };
  /** A change scheduled while its flag was plain; the flag is high-impact now, so moving it needs approval. */
  let scheduledBeforeMarking = '';

  beforeAll(async () => {
    quietTemporal();
    // Filing starts an approval workflow; nothing here needs it to run, so no worker.
    harness = await startRolloutHarness({ worker: false });
    const document = (await harness.api.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { operationId: string }>> };
    writeOperations = new Map(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.entries(methods).filter(([method]) => WRITE_METHODS.has(method)).map(([method, operation]) => [operation.operationId, `${method.toUpperCase()} ${path}`] as const),
      ),
    );
    await harness.api.request('POST', '/v1/segments', { body: { key: 'guarded-segment', name: 'Guarded', conditions: [] } });
    await harness.createFlag('guarded', { highImpact: true, rules: [{ id: 'r', conditions: [{ segment: 'guarded-segment' }], serve: { value: true } }] });
    await harness.createFlag('guarded-archived', { highImpact: true });
    await harness.createFlag('guarded-scheduled');
    scheduledBeforeMarking = ((await harness.api.request('POST', '/v1/flags/guarded-scheduled/scheduled-changes', { body: { patch: { description: 'later' }, after: '1h', version: 1 } })).body as { items: Json[] }).items[0]!.id as string;
    // Marked underneath the API: marking it through the API is itself a change request.
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE flags SET definition = definition || '{"highImpact": true}'::jsonb, high_impact = true WHERE key = 'guarded-scheduled'`);
    // Archived underneath the API: archiving it through the API is itself a change request.
    await harness.api.db.pool.query(sql.typeAlias('void')`UPDATE flags SET state = 'archived', version = version + 1 WHERE key = 'guarded-archived'`);
  });
  afterAll(async () => {
    await harness.close();
  });

  it('enumerates the write operations: each is gated or documented exempt with a reason, never both, and every listed one exists', () => {
    const exempt = documentedExemptions();
    expect(writeOperations.size).toBeGreaterThan(20);
    const unaccounted = [...writeOperations].filter(([operationId]) => !(operationId in gatedProbes) && !exempt.has(operationId)).map(([id, route]) => `${id} (${route})`);
    expect(unaccounted).toEqual([]);
    expect(Object.keys(gatedProbes).filter((operationId) => exempt.has(operationId))).toEqual([]);
    const unknown = [...Object.keys(gatedProbes), ...exempt.keys()].filter((operationId) => !writeOperations.has(operationId));
    expect(unknown).toEqual([]);
    for (const [operationId, reason] of exempt) expect({ operationId, reason: reason.length > 10 }).toEqual({ operationId, reason: true });
  });

  it('gates a scheduled change to a prerequisite of a high-impact flag, as a patch made now would be', async () => {
    await harness.createFlag('scheduled-prerequisite');
    await harness.createFlag('scheduled-dependent', { highImpact: true, prerequisites: [{ flagKey: 'scheduled-prerequisite', value: true }] });
    const response = await harness.api.request('POST', '/v1/flags/scheduled-prerequisite/scheduled-changes', { body: { patch: { description: 'later' }, after: '1h', version: 1 } });
    expect({ status: response.status, code: response.body.error?.code, affected: response.body.error?.details?.affectedFlags }).toEqual({ status: 202, code: 'approval_required', affected: ['scheduled-dependent'] });
    expect((await harness.flag('scheduled-prerequisite')).version).toBe(1);
  });

  it.each(Object.keys(gatedProbes))('%s against a high-impact flag files a change request (202 approval_required) and writes nothing', async (operationId) => {
    const response = await gatedProbes[operationId]!();
    expect(response.status).toBe(202);
    expect(response.body.error.code).toBe('approval_required');
    expect(response.body.error.details.affectedFlags.length).toBeGreaterThan(0);
    expect((await harness.flag('guarded')).version).toBe(1);
    expect((await harness.api.request('GET', '/v1/segments/guarded-segment')).body.version).toBe(1);
  });
});
