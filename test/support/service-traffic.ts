// Traffic that makes a running service produce every metric the dashboards and alerts read: flags
// (one tagged for per-flag metrics), a segment used by several flags and then changed, evaluations
// on every endpoint, cache hits, exposures, a refused prerequisite cycle, a rollout running and one
// paused, a change request waiting for approval.
import { eventually } from './eventually.ts';
import type { LaunchedService } from './launched-service.ts';

type Answer = Awaited<ReturnType<LaunchedService['request']>>;

function checked(response: Answer, status: number | number[], method: string, path: string): Answer {
  const wanted = Array.isArray(status) ? status : [status];
  if (!wanted.includes(response.status)) throw new Error(`${method} ${path} answered ${response.status}, not ${wanted.join(' or ')}: ${JSON.stringify(response.body)}`);
  return response;
}

async function expect(service: LaunchedService, status: number | number[], method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  return checked(await service.request(method, path, body, headers), status, method, path);
}

/**
 * A request whose answer needs a worker through Temporal, which the API waits for at most 3 s: on a
 * loaded machine it may answer `503 unavailable` (Retry-After: 1) first, and a client asks again, as
 * the call is idempotent (pausing a paused rollout is a no-op).
 */
async function expectRetryingUnavailable(service: LaunchedService, status: number, method: string, path: string, body?: unknown) {
  const answered = await eventually(() => service.request(method, path, body), (response) => response.status !== 503, 60_000, 1_000);
  return checked(answered.value, status, method, path);
}

/** Creates what the metrics describe. Once per service. */
export async function seedService(service: LaunchedService): Promise<void> {
  await expect(service, 201, 'POST', '/v1/segments', { key: 'beta-users', name: 'Beta users', conditions: [{ attribute: 'beta', op: 'equals', value: true }] });
  await expect(service, 201, 'POST', '/v1/flags', {
    key: 'new-checkout',
    type: 'boolean',
    defaultValue: false,
    tags: ['flagship:metrics', 'checkout'],
    rules: [{ id: 'beta', conditions: [{ segment: 'beta-users' }], serve: { value: true } }],
    rollout: { percentage: 10 },
  });
  for (const key of ['search-v2', 'dark-mode', 'banner-color']) {
    await expect(service, 201, 'POST', '/v1/flags', { key, type: 'boolean', defaultValue: false, rules: [{ id: 'beta', conditions: [{ segment: 'beta-users' }], serve: { value: true } }] });
  }
  await expect(service, 201, 'POST', '/v1/flags', { key: 'payments-v2', type: 'boolean', defaultValue: true, prerequisites: [{ flagKey: 'new-checkout', value: true }] });
  // new-checkout → payments-v2 → new-checkout would be a loop: refused and counted.
  await expect(service, 409, 'PATCH', '/v1/flags/new-checkout', { prerequisites: [{ flagKey: 'payments-v2', value: true }] }, { 'if-match': '1' });
  // A segment change recompiles every flag that uses it (four here).
  await expect(service, 200, 'PATCH', '/v1/segments/beta-users', { description: 'people in the beta programme' }, { 'if-match': '1' });

  // A rollout that has taken its first step and waits an hour for the next, and one paused by a person.
  await expect(service, 201, 'POST', '/v1/flags/search-v2/rollouts', { steps: [{ percentage: 20, after: '1s' }, { percentage: 50, after: '1h' }] });
  await expect(service, 201, 'POST', '/v1/flags/dark-mode/rollouts', { steps: [{ percentage: 30, after: '1h' }] });
  await expectRetryingUnavailable(service, 200, 'POST', '/v1/flags/dark-mode/rollout/pause', { reason: 'waiting for design' });

  // A high-impact flag: a change waits for a second person (202, a pending change request).
  await expect(service, 201, 'POST', '/v1/flags', { key: 'billing-engine', type: 'boolean', defaultValue: false, highImpact: true });
  await expect(service, 202, 'PATCH', '/v1/flags/billing-engine', { defaultValue: true }, { 'if-match': '1' });
}

/** One round of reads: every evaluating endpoint, cache hits, a snapshot revalidation, exposures. */
export async function evaluationRound(service: LaunchedService, round: number): Promise<void> {
  const users = Array.from({ length: 20 }, (_, index) => ({ userId: `user-${round % 50}-${index}`, beta: index % 4 === 0 }));
  await Promise.all(users.map((context) => expect(service, 200, 'POST', '/v1/evaluate', { flagKey: 'new-checkout', context })));
  await Promise.all(users.slice(0, 5).map((context) => expect(service, 200, 'POST', '/v1/evaluate', { flagKey: 'payments-v2', context })));
  await expect(service, 404, 'POST', '/v1/evaluate', { flagKey: 'no-such-flag', context: {} });
  // The same context twice: the second bulk answer comes from the cache.
  await expect(service, 200, 'POST', '/v1/evaluate/bulk', { context: users[0] });
  await expect(service, 200, 'POST', '/v1/evaluate/bulk', { context: users[0] });
  await expect(service, 200, 'POST', '/ofrep/v1/evaluate/flags/new-checkout', { context: { targetingKey: users[1]!.userId } });
  await expect(service, 200, 'POST', '/ofrep/v1/evaluate/flags', { context: users[2] });
  await expect(service, [200, 304], 'POST', '/ofrep/v1/evaluate/flags', { context: users[2] });
  const snapshot = await expect(service, 200, 'GET', '/v1/snapshot');
  // 304 unless a change (a rollout step) landed between the two requests.
  await expect(service, [304, 200], 'GET', '/v1/snapshot', undefined, { 'if-none-match': snapshot.headers.get('etag') ?? '' });
  await expect(service, 202, 'POST', '/v1/exposures', {
    exposures: users.slice(0, 3).map((context) => ({ flagKey: 'new-checkout', flagVersion: 1, reason: 'percentage', value: false, userId: context.userId, at: new Date().toISOString() })),
  });
}
