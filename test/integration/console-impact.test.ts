// The console's impact previews in a real Chromium against the real service (PostgreSQL, Temporal,
// the sample of evaluated contexts): the edit's review shows the dry run's warnings and whom the
// change moves before anything is saved, and the approvals inbox shows each request's impact as
// filed and recomputed. Each page passes axe-core; screenshots for docs/console.md.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { compileFlagSet, evaluate, type Flag } from '@flagship/engine';
import { seriousAccessibilityViolations, screenshot, startBrowser, type TestBrowser } from '../support/browser.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type RolloutHarness } from '../support/rollout-harness.ts';

const CONTEXTS = Array.from({ length: 40 }, (_, index) => ({ userId: `user-${index}`, country: ['NL', 'DE', 'FR', 'US'][index % 4]! }));

describe('impact previews in the console', () => {
  let harness: RolloutHarness;
  let browser: TestBrowser;
  let page: Page;
  let origin: string;
  const tokens: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

  async function signIn(name: keyof typeof tokens): Promise<void> {
    await page.goto(`${origin}/ui/`);
    await page.getByLabel('API token').fill(tokens[name]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').waitFor();
  }

  async function expectAccessible(name: string): Promise<void> {
    const violations = await seriousAccessibilityViolations(page);
    expect({ page: name, violations }).toEqual({ page: name, violations: [] });
  }

  /** How many of the known contexts get another value, evaluated here with the engine itself. */
  function valueMoves(before: Flag, after: Flag): number {
    const live = compileFlagSet({ flags: [before], segments: [] });
    const next = compileFlagSet({ flags: [after], segments: [] });
    return CONTEXTS.filter((context) => evaluate(live, before.key, context)!.value !== evaluate(next, after.key, context)!.value).length;
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
    origin = harness.api.baseUrl;
    for (const [name, scopes] of [['alice', ['feature_flag:manage']], ['bob', ['feature_flag:manage', 'feature_flag:approve']]] as const) {
      const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: name, name }, scopes } });
      tokens[name] = created.body.token;
    }
    const rule = { id: 'dutch', conditions: [{ attribute: 'country', op: 'equals', value: 'NL' }], serve: { value: true } };
    await harness.createFlag('new-checkout', { description: 'New checkout', rules: [rule] });
    await harness.createFlag('big-launch', { description: 'The launch', highImpact: true, rules: [rule] });
    for (const flagKey of ['new-checkout', 'big-launch']) {
      for (const context of CONTEXTS) await harness.api.request('POST', '/v1/evaluate', { body: { flagKey, context } });
    }
    browser = await startBrowser();
    page = browser.page;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('shows the warnings and whom a change moves in the review, before anything is saved', async () => {
    await signIn('alice');
    const before = await harness.flag('new-checkout');
    await page.goto(`${origin}/ui/#/flags/new-checkout/edit`);
    await page.getByLabel('Description').fill('New checkout, ask ops@example.com');
    await page.getByLabel('Rollout percentage').fill('50');
    await page.getByRole('button', { name: 'Review changes' }).click();
    const summary = page.locator('.impact-summary');
    await summary.waitFor();
    const moved = valueMoves(before, { ...before, rollout: { percentage: 50 } });
    expect(moved).toBeGreaterThan(0);
    expect(await summary.textContent()).toContain(`(${moved} of ${CONTEXTS.length}) to another value`);
    const counts = await page.locator('table.impact tbody td.number:nth-of-type(3)').allTextContents();
    expect(counts.reduce((sum, count) => sum + Number(count), 0)).toBeGreaterThanOrEqual(moved);
    expect(await page.getByRole('status').filter({ hasText: 'One warning' }).textContent()).toContain('e-mail address');
    await expectAccessible('flag-edit-impact');
    await screenshot(page, 'flag-edit-impact', { fullPage: true });
    // The review wrote nothing.
    expect((await harness.flag('new-checkout')).version).toBe(before.version);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(`Saved: the flag is now at version ${before.version + 1}.`).waitFor();
  });

  it('shows each change request\'s impact in the approvals inbox, as filed and recomputed now', async () => {
    await page.goto(`${origin}/ui/#/flags/big-launch/edit`);
    await page.getByLabel('Rollout percentage').fill('100');
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByText('Saving files a change request').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('A second person must approve this change.').waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn('bob');
    await page.goto(`${origin}/ui/#/approvals`);
    const request = page.locator('article').filter({ hasText: 'big-launch' });
    const filed = request.getByRole('region', { name: 'Impact when filed' });
    await filed.waitFor();
    const before = await harness.flag('big-launch');
    const moved = valueMoves(before, { ...before, rollout: { percentage: 100 } });
    expect(await filed.locator('.impact-summary').textContent()).toContain(`(${moved} of ${CONTEXTS.length}) to another value`);
    await request.getByRole('button', { name: 'Recompute the impact now' }).click();
    const now = request.getByRole('region', { name: 'Impact now' });
    await now.waitFor();
    expect(await now.locator('.impact-summary').textContent()).toContain(`(${moved} of ${CONTEXTS.length}) to another value`);
    await expectAccessible('approvals-impact');
    await screenshot(page, 'approvals-impact', { fullPage: true });
  });
});
