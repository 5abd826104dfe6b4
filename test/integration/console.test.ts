// The web console in a real Chromium (Debian's, installed by the project into .tools/chromium)
// against the real service: the API on a real PostgreSQL with 10,000 flags, a worker on the real
// Temporal server. Each page is checked with axe-core; the browser may ask nothing of any other origin,
// and the page's Content-Security-Policy must never have to refuse anything.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { sql } from '../../src/data/sql.ts';
import { seriousAccessibilityViolations, screenshot, startBrowser, type TestBrowser } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { quietTemporal } from '../support/logger.ts';
import { startRolloutHarness, type Json, type RolloutHarness } from '../support/rollout-harness.ts';
import { TOOL_INSTALL_TIMEOUT_MS } from '../support/test-tools.ts';

const SEEDED_FLAGS = 10_000;
const AREAS = ['checkout', 'search', 'payments', 'growth', 'mobile', 'ledger', 'inbox', 'billing'];
const TEAMS = ['team-payments', 'team-growth', 'team-core', 'team-data'];

/** 10,000 flags in one INSERT: the list and search read PostgreSQL, so the flags need only be rows. */
async function seedFlags(harness: RolloutHarness): Promise<void> {
  const rows = Array.from({ length: SEEDED_FLAGS }, (_, index) => {
    const area = AREAS[index % AREAS.length]!;
    const key = `${area}-feature-${String(index).padStart(5, '0')}`;
    const description = `Turns on feature ${index} of ${area} for the ${index % 2 ? 'web' : 'mobile'} clients`;
    const tags = [TEAMS[index % TEAMS.length]!, area];
    const type = index % 10 === 0 ? 'string' : 'boolean';
    const definition = {
      key, type, description, tags, enabled: true,
      defaultValue: type === 'string' ? 'control' : false, offValue: type === 'string' ? 'control' : false,
      ...(type === 'boolean' ? { onValue: true } : {}),
      variants: {}, allowlist: [], denylist: [], prerequisites: [], rules: [], highImpact: false,
    };
    return { key, description, tags, definition };
  });
  await harness.api.db.pool.query(sql.typeAlias('void')`
    INSERT INTO flags (key, version, state, definition, description, tags, search_text, created_by, updated_by)
    SELECT key, 1, 'active', definition, description, tags, key || ' ' || description || ' ' || array_to_string(tags, ' '), 'seed', 'seed'
    FROM jsonb_to_recordset(${sql.jsonb(rows)}) AS t(key text, description text, tags text[], definition jsonb)`);
  await harness.api.db.pool.query(sql.typeAlias('void')`ANALYZE flags`);
}

/** The DOM as far as the page functions below read it (the test project's types are Node's, not the browser's). */
interface ResultsDocument {
  querySelectorAll(selector: string): ArrayLike<{ querySelector(selector: string): { textContent: string | null } | null }>;
}

/** Runs in the page: the flag list shows `first` on top (and `count` rows), settled. */
function showsKeys({ first, count }: { first: string; count: number | null }): boolean {
  const rows = (globalThis as unknown as { document: ResultsDocument }).document.querySelectorAll('.results[data-state="ready"] tbody tr');
  return (count === null || rows.length === count) && rows[0]?.querySelector('th')?.textContent === first;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('the web console in Chromium', () => {
  let harness: RolloutHarness;
  let browser: TestBrowser;
  let page: Page;
  let origin: string;
  const tokens: Record<'alice' | 'bob' | 'sre', string> = { alice: '', bob: '', sre: '' };
  /** Each token belongs to a person of its own (the owner id is the token's name): the actors approvals compare. */
  const people: Record<keyof typeof tokens, string> = { alice: 'Alice', bob: 'Bob', sre: 'Sam (SRE)' };

  async function createToken(name: keyof typeof tokens, scopes: string[]): Promise<void> {
    const created = await harness.api.request('POST', '/v1/tokens', { body: { name, owner: { id: name, name: people[name] }, scopes } });
    if (created.status !== 201) throw new Error(`creating token ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    tokens[name] = created.body.token;
  }

  async function expectAccessible(name: string): Promise<void> {
    const violations = await seriousAccessibilityViolations(page);
    expect({ page: name, violations }).toEqual({ page: name, violations: [] });
  }

  async function signIn(name: keyof typeof tokens): Promise<void> {
    await page.goto(`${origin}/ui/`);
    await page.getByLabel('API token').fill(tokens[name]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').filter({ hasText: people[name] }).waitFor();
  }

  async function signOut(): Promise<void> {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
  }

  beforeAll(async () => {
    quietTemporal();
    harness = await startRolloutHarness();
    origin = harness.api.baseUrl;
    await seedFlags(harness);
    await createToken('alice', ['feature_flag:manage']);
    await createToken('bob', ['feature_flag:manage', 'feature_flag:approve']);
    await createToken('sre', ['feature_flag:manage', 'feature_flag:killswitch']);
    browser = await startBrowser();
    page = browser.page;
    console.log(`Chromium ${browser.version} (Debian package), playwright-core drives it`);
  }, TOOL_INSTALL_TIMEOUT_MS + 300_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('serves the console with its own strict policy, from files of its own and the view library only', async () => {
    const redirect = await fetch(`${origin}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/ui/');
    const index = await fetch(`${origin}/ui/`);
    const html = await index.text();
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const policy = index.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("require-trusted-types-for 'script'");
    expect(policy).not.toContain('unsafe');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('x-request-id')).toMatch(/\S/);
    expect(html).not.toMatch(/https?:\/\//);
    const etag = index.headers.get('etag') ?? '';
    expect((await fetch(`${origin}/ui/`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const preact = await fetch(`${origin}/ui/vendor/preact.mjs`);
    expect(preact.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await preact.text()).toContain('export');
    for (const path of ['/ui/nothing.js', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/vendor/../../src/config.ts']) {
      const response = await fetch(`${origin}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
    }
    // Anything but a read is the API's method_not_allowed, and an error answer keeps the API's own policy.
    const post = await fetch(`${origin}/ui/`, { method: 'POST' });
    expect({ status: post.status, allow: post.headers.get('allow'), code: ((await post.json()) as Json).error.code }).toEqual({ status: 405, allow: 'GET, HEAD, OPTIONS', code: 'method_not_allowed' });
    expect((await fetch(`${origin}/ui/nothing.js`)).headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  });

  it('signs in with a token, from the keyboard, keeping it in this tab only; a refused token is said so', async () => {
    await page.goto(`${origin}/ui/`);
    await page.getByLabel('API token').waitFor();
    await expectAccessible('sign-in');
    await screenshot(page, 'sign-in');

    await page.keyboard.type('ffs_not-a-real-token');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'The API refused the token' }).waitFor();

    await page.getByLabel('API token').fill(tokens.alice);
    await page.keyboard.press('Enter');
    await page.getByTestId('signed-in-as').filter({ hasText: 'Alice' }).waitFor();
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([tokens.alice]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await browser.context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(tokens.alice);
  });

  it(`searches ${SEEDED_FLAGS.toLocaleString('en')} flags on the server, filters and pages them, each search answered within 300 ms`, async () => {
    await page.goto(`${origin}/ui/#/flags`);
    await page.locator('.results[data-state="ready"] tbody tr').first().waitFor();
    const search = page.getByRole('searchbox', { name: 'Search' });
    const timings: number[] = [];
    for (const term of ['payments', 'feature 4242', 'mobile clients', 'ledger-feature-0', 'of inbox', 'team-data', 'feature-09', 'growth']) {
      const expected = (await harness.api.request('GET', `/v1/flags?q=${encodeURIComponent(term)}&limit=50`)).body.items.map((flag: Json) => flag.key);
      expect(expected.length).toBeGreaterThan(0);
      const started = performance.now();
      await search.fill(term);
      await page.waitForFunction(showsKeys, { first: expected[0], count: expected.length }, { polling: 'raf' });
      timings.push(performance.now() - started);
    }
    const statusText = await page.getByRole('status').first().textContent();
    console.log(`console search over ${SEEDED_FLAGS} flags, keystroke to rows on screen: median ${median(timings).toFixed(0)} ms, max ${Math.max(...timings).toFixed(0)} ms, each ${timings.map((ms) => ms.toFixed(0)).join(', ')} ms (the page's own last figure: "${statusText}")`);
    // The goal, on this 2-core machine shared with other test files: the median, so one
    // scheduling hiccup does not fail it; and no single search may take seconds.
    expect(median(timings)).toBeLessThan(300);
    for (const ms of timings) expect(ms).toBeLessThan(2_000);
    await expectAccessible('flags');
    await screenshot(page, 'flags');

    await search.fill('');
    await page.getByLabel('Type').selectOption('string');
    await page.getByLabel('Tag').fill('team-core');
    const firstPage = (await harness.api.request('GET', '/v1/flags?type=string&tag=team-core&limit=50')).body;
    expect(firstPage.nextCursor).not.toBeNull();
    const secondPage = (await harness.api.request('GET', `/v1/flags?type=string&tag=team-core&limit=50&cursor=${firstPage.nextCursor}`)).body;
    const firstKeyShown = (key: string) => page.waitForFunction(showsKeys, { first: key, count: null });
    await firstKeyShown(firstPage.items[0].key);
    expect(new Set(await page.locator('.results tbody tr td:nth-child(2)').allTextContents())).toEqual(new Set(['string']));
    expect(page.url()).toContain('type=string');
    await page.getByRole('button', { name: 'Next page' }).click();
    await firstKeyShown(secondPage.items[0].key);
    expect(await page.locator('.results tbody tr th').allTextContents()).toEqual(secondPage.items.map((flag: Json) => flag.key));
    await page.getByText('Page 2').waitFor();
  });

  it('shows a flag in plain words (order, conditions, rollout, prerequisites with links) and explains a context step by step', async () => {
    await harness.api.request('POST', '/v1/segments', { body: { key: 'beta-users', name: 'Beta users', conditions: [{ attribute: 'email', op: 'ends_with', value: '@example.com' }] } });
    await harness.createFlag('payments-v2', { defaultValue: true });
    await harness.createFlag('new-checkout', {
      description: 'New checkout flow',
      tags: ['checkout'],
      prerequisites: [{ flagKey: 'payments-v2', value: true }],
      denylist: ['user-2'],
      rules: [{ id: 'beta-cohort', conditions: [{ attribute: 'country', op: 'in', value: ['DE', 'FR'] }, { segment: 'beta-users' }], serve: { value: true } }],
      rollout: { percentage: 25 },
    });
    await page.goto(`${origin}/ui/#/flags/new-checkout`);
    const steps = page.locator('ol.evaluation > li');
    await steps.first().waitFor();
    expect(await steps.allTextContents()).toEqual([
      'Switched on. The flag is enabled.',
      'Prerequisite. Flag payments-v2 must answer true for the same context; otherwise the off value false (prerequisite failed).',
      'Denylist. These identities get the off value false: user-2.',
      'Rule 1: beta-cohort. If country is one of "DE", "FR" and the context is in segment beta-users, serve true.',
      'Percentage rollout. 25% of identities, by userId (else targetingKey, else projectId), get the on value true; the others get the default value false. A context without an identity skips this step.',
      'Default. Everyone else gets the default value false.',
    ]);

    await page.getByLabel('Context (JSON)').fill('{"userId": "u-7", "country": "DE", "email": "ann@example.com"}');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('.answer').first().waitFor();
    expect(await page.locator('.answer').first().textContent()).toBe('Answer: true, reason rule, rule beta-cohort, flag version 1.');
    const trace = await page.locator('form.explain > div > .explanation > ol.trace > li').allTextContents();
    expect(trace).toHaveLength(4);
    expect(trace[3]).toContain('rule "beta-cohort" matches and serves its value');
    expect(trace[3]).toContain('holds country in ["DE","FR"]');
    const explained = await harness.api.request('POST', '/v1/explain', { body: { flagKey: 'new-checkout', context: { userId: 'u-7', country: 'DE', email: 'ann@example.com' } } });
    const outcomes = await page.locator('form.explain > div > .explanation > ol.trace > li > p > .badge').allTextContents();
    expect(outcomes).toEqual(explained.body.steps.map((step: Json) => (step.outcome === 'served' ? 'decided the answer' : 'passed on')));

    await page.getByLabel('Context (JSON)').fill('{"userId": ');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('#explain-problem').waitFor();
    expect(await page.getByLabel('Context (JSON)').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Context (JSON)').fill('{"userId": "u-7", "country": "DE", "email": "ann@example.com"}');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('.answer').first().waitFor();
    await expectAccessible('flag');
    await screenshot(page, 'flag', { fullPage: true });

    expect(await page.getByRole('link', { name: 'beta-users' }).getAttribute('href')).toBe('#/segments/beta-users');
    await page.getByRole('link', { name: 'payments-v2' }).click();
    await page.getByRole('heading', { level: 1, name: 'payments-v2' }).waitFor();
  });

  it('edits a flag in the form, shows the diff before saving, saves against its version, and lists the change in its history', async () => {
    await page.goto(`${origin}/ui/#/flags/new-checkout/edit`);
    await page.getByLabel('Description').fill('New checkout flow, second try');
    await page.getByLabel('Rollout percentage').fill('40');
    await page.getByRole('button', { name: 'Review changes' }).click();
    const rows = page.locator('table.diff tbody tr');
    await rows.first().waitFor();
    expect(await rows.allTextContents()).toEqual(['description"New checkout flow""New checkout flow, second try"', 'rollout.percentage2540']);
    await expectAccessible('flag-edit');
    await screenshot(page, 'flag-edit');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: the flag is now at version 2.').waitFor();
    const flag = await harness.flag('new-checkout');
    expect(flag).toMatchObject({ version: 2, description: 'New checkout flow, second try', rollout: { percentage: 40 }, updatedBy: 'alice' });

    await page.goto(`${origin}/ui/#/flags/new-checkout`);
    const history = page.locator('.audit-entry');
    await history.first().waitFor();
    expect(await history.first().textContent()).toContain('flag.updated → version 2 by Alice');

    // The same in the JSON editor, for experts.
    await page.goto(`${origin}/ui/#/flags/new-checkout/edit`);
    await page.getByRole('radio', { name: 'JSON' }).check();
    const whole = page.getByLabel('The whole definition (JSON)');
    const definition = JSON.parse(await whole.inputValue());
    await whole.fill(JSON.stringify({ ...definition, tags: ['checkout', 'experts'] }, null, 2));
    await page.getByRole('button', { name: 'Review changes' }).click();
    expect(await page.locator('table.diff tbody tr').allTextContents()).toEqual(['tags["checkout"]["checkout","experts"]']);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: the flag is now at version 3.').waitFor();
    expect((await harness.flag('new-checkout')).tags).toEqual(['checkout', 'experts']);
  });

  it('edits a segment in its form with the same review and version check', async () => {
    await page.goto(`${origin}/ui/#/segments/beta-users`);
    expect(await page.locator('main ul li').first().textContent()).toBe('email ends with "@example.com"');
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Name').fill('Beta testers');
    await page.getByRole('button', { name: 'Review changes' }).click();
    expect(await page.locator('.review table.diff tbody tr').allTextContents()).toEqual(['name"Beta users""Beta testers"']);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: the segment is now at version 2.').waitFor();
    expect((await harness.api.request('GET', '/v1/segments/beta-users')).body).toMatchObject({ name: 'Beta testers', version: 2 });
    await expectAccessible('segment');
  });

  it('creates a flag in a form: the API refuses a bad one field by field, writes nothing, then creates the fixed one; a key is never reused', async () => {
    await page.goto(`${origin}/ui/#/flags`);
    await page.getByRole('link', { name: 'New flag' }).click();
    await page.getByRole('heading', { level: 1, name: 'New flag' }).waitFor();
    await page.getByLabel('Key', { exact: true }).fill('Checkout Banner');
    await page.getByLabel('Type', { exact: true }).selectOption('string');
    await page.getByLabel('Description', { exact: true }).fill('The banner above the checkout, in two wordings');
    await page.getByLabel('Tags', { exact: true }).fill('checkout, not a tag');
    await page.getByLabel('Default value', { exact: true }).fill('control');
    await page.getByRole('button', { name: 'Add a variant' }).click();
    await page.getByLabel('Variant 1 name').fill('short');
    await page.getByLabel('Variant 1 value').fill('Pay now');
    await page.getByRole('button', { name: 'Add a variant' }).click();
    await page.getByLabel('Variant 2 name').fill('long wording');
    await page.getByLabel('Variant 2 value').fill('Pay now, ship today');
    await page.getByRole('button', { name: 'Create flag' }).click();

    await page.getByRole('alert').filter({ hasText: 'The API refused the flag' }).waitFor();
    const key = page.getByLabel('Key', { exact: true });
    expect(await key.getAttribute('aria-invalid')).toBe('true');
    expect(await key.getAttribute('aria-describedby')).toBe('c-key-error c-key-help');
    expect(await page.locator('#c-key-error').textContent()).toContain('must be 1–128 lower-case letters, digits');
    expect(await page.evaluate('document.activeElement.id')).toBe('c-key');
    expect(await page.locator('#c-tags-error').textContent()).toMatch(/^Tag 2: /);
    const rows = page.locator('.variant-row');
    expect(await rows.nth(0).locator('.field-error').count()).toBe(0);
    expect(await rows.nth(1).locator('.field-error').textContent()).toMatch(/^invalid name: must be 1–64 letters, /);
    expect(await page.getByLabel('Variant 2 name').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Default value', { exact: true }).getAttribute('aria-invalid')).toBe('false');
    expect((await harness.api.request('GET', `/v1/flags?q=${encodeURIComponent('in two wordings')}`)).body.items).toEqual([]);
    await expectAccessible('flag-create');
    await screenshot(page, 'flag-create', { fullPage: true });

    await key.fill('checkout-banner');
    await page.getByLabel('Tags', { exact: true }).fill('checkout, banner');
    await page.getByLabel('Variant 2 name').fill('long');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.getByRole('heading', { level: 1, name: 'checkout-banner' }).waitFor();
    expect(page.url()).toMatch(/#\/flags\/checkout-banner$/);
    expect(await harness.flag('checkout-banner')).toMatchObject({
      version: 1, type: 'string', enabled: true, description: 'The banner above the checkout, in two wordings', tags: ['checkout', 'banner'],
      defaultValue: 'control', variants: { short: 'Pay now', long: 'Pay now, ship today' }, createdBy: 'alice',
    });

    // Two variants of one name would be one in the body: the form says so and sends nothing.
    await page.goto(`${origin}/ui/#/new-flag`);
    await page.getByLabel('Key', { exact: true }).fill('checkout-banner');
    await page.getByRole('button', { name: 'Add a variant' }).click();
    await page.getByLabel('Variant 1 name').fill('same');
    await page.getByRole('button', { name: 'Add a variant' }).click();
    await page.getByLabel('Variant 2 name').fill('same');
    expect(await page.locator('.variant-row').nth(1).locator('.field-error').textContent()).toBe('Another variant is named same.');
    expect(await page.getByRole('button', { name: 'Create flag' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Remove variant 2' }).click();
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.locator('#c-key-error').waitFor();
    expect(await page.locator('#c-key-error').textContent()).toContain('flag "checkout-banner" already exists');
    expect((await harness.flag('checkout-banner')).version).toBe(1);
  });

  it('resolves a version conflict: says someone changed the flag meanwhile, shows both sides, and re-applies the change onto the new version', async () => {
    await harness.createFlag('conflicted', { description: 'before' });
    await page.goto(`${origin}/ui/#/flags/conflicted/edit`);
    await page.getByLabel('Description').fill('mine');
    // Meanwhile someone else saves a different change.
    const theirs = await harness.api.request('PATCH', '/v1/flags/conflicted', { token: tokens.bob, body: { tags: ['theirs'] }, headers: { 'if-match': '"1"' } });
    expect(theirs.status).toBe(200);
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())?.replace(/\s+/g, ' ')).toContain('Someone changed this flag meanwhile. You edited version 1; it is now at version 2, changed by bob');
    expect(await page.locator('caption').allTextContents()).toEqual(['Their changes (version 1 → 2)', 'Your changes']);
    expect((await harness.flag('conflicted')).description).toBe('before');
    await expectAccessible('conflict');
    await screenshot(page, 'conflict');
    await page.getByRole('button', { name: 'Apply my changes to version 2' }).click();
    expect(await page.locator('table.diff tbody tr').allTextContents()).toEqual(['description"before""mine"']);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: the flag is now at version 3.').waitFor();
    expect(await harness.flag('conflicted')).toMatchObject({ version: 3, description: 'mine', tags: ['theirs'] });
  });

  it('files a change request as one person (a high-impact flag) and approves it as another, with a comment', async () => {
    await harness.createFlag('big-switch', { highImpact: true, description: 'guarded' });
    await page.goto(`${origin}/ui/#/flags/big-switch/edit`);
    await page.getByLabel('Description').fill('guarded, changed with care');
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('A second person must approve this change.').waitFor();
    const requestId = await page.locator('.message code').first().textContent();
    expect((await harness.flag('big-switch')).description).toBe('guarded');

    await page.goto(`${origin}/ui/#/approvals`);
    const own = page.locator('article').filter({ hasText: 'big-switch' });
    await own.waitFor();
    expect(await own.textContent()).toContain('You asked for this change: another person must approve it.');
    await expect(own.getByRole('button', { name: 'Approve' }).count()).resolves.toBe(0);

    await signOut();
    await signIn('bob');
    await page.goto(`${origin}/ui/#/approvals`);
    const request = page.locator('article').filter({ hasText: 'big-switch' });
    await request.waitFor();
    const text = await request.textContent();
    expect(text).toContain('Requested byalice');
    expect(text).toMatch(/Expires.*\(in (23|24) h\)/);
    expect(await request.locator('table.diff tbody tr').allTextContents()).toEqual(['description"guarded""guarded, changed with care"']);
    await expectAccessible('approvals');
    await screenshot(page, 'approvals');
    await request.getByLabel('Comment (optional; the reason when rejecting)').fill('looks right');
    await request.getByRole('button', { name: 'Approve' }).click();
    await page.getByText(`Decided: ${requestId}: applied`).waitFor();
    expect(await harness.flag('big-switch')).toMatchObject({ description: 'guarded, changed with care', version: 2 });
    const audit = (await harness.api.request('GET', '/v1/flags/big-switch/audit')).body.items[0];
    expect(audit).toMatchObject({ actor: 'alice', approver: 'bob', version: 2 });
    const decided = (await harness.api.request('GET', `/v1/changes/${requestId}`)).body;
    expect(decided.decision).toMatchObject({ by: 'bob', comment: 'looks right' });
  });

  it('shows a running rollout with its steps and its workflow in the Temporal UI, and pauses it', async () => {
    await harness.createFlag('ramp');
    const started = await harness.api.request('POST', '/v1/flags/ramp/rollouts', { body: { steps: [{ percentage: 10, after: '0s' }, { percentage: 50, after: '1h' }], reason: 'ramp up' } });
    expect(started.status).toBe(201);
    await harness.waitForRollout('ramp', (rollout) => rollout.state === 'running' && rollout.currentStep === 0, 'first step applied');
    await page.goto(`${origin}/ui/#/rollouts`);
    const card = page.locator('article').filter({ hasText: 'ramp' });
    await card.waitFor();
    expect(await card.locator('tbody tr').allTextContents()).toHaveLength(2);
    expect(await card.locator('tbody tr').first().textContent()).toMatch(/^1 \(current\)10%/);
    const link = card.getByRole('link', { name: /in the Temporal UI/ });
    expect(await link.getAttribute('href')).toBe(started.body.links.temporalUi);
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    await expectAccessible('rollouts');
    await screenshot(page, 'rollouts');
    await card.getByRole('button', { name: 'Pause…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (optional, recorded)').fill('error rate up');
    await expectAccessible('rollout-pause-dialog');
    await dialog.getByRole('button', { name: 'Pause', exact: true }).click();
    await page.getByText('ramp: paused').waitFor();
    expect(await harness.rollout('ramp')).toMatchObject({ state: 'paused', pause: { by: 'bob', reason: 'error rate up' } });
    await card.getByRole('button', { name: 'Resume…' }).waitFor();
  });

  it('engages a killswitch after showing what it turns off, with a reason that must be given, and releases it', async () => {
    await harness.createFlag('nightly-export', { killswitch: 'background-jobs', defaultValue: false, onValue: true, rollout: { percentage: 100 } });
    await harness.api.request('POST', '/v1/flags', { body: { key: 'reindex-batch', type: 'string', defaultValue: 'full', offValue: 'skip', killswitch: 'background-jobs' } });
    await signOut();
    await signIn('sre');
    await page.goto(`${origin}/ui/#/killswitches`);
    const card = page.locator('article').filter({ hasText: 'background-jobs' });
    await card.waitFor();
    await expectAccessible('killswitches');
    await card.getByRole('button', { name: 'Engage…' }).click();
    const dialog = page.getByRole('dialog');
    const consequences = dialog.getByRole('list', { name: 'What it turns off' });
    await consequences.waitFor();
    expect(await consequences.locator('li').allTextContents()).toEqual(['nightly-export will serve false', 'reindex-batch will serve "skip"']);
    const engage = dialog.getByRole('button', { name: 'Engage background-jobs' });
    expect(await engage.isDisabled()).toBe(true);
    await dialog.getByLabel('Reason (required, recorded and announced)').fill('   ');
    expect(await engage.isDisabled()).toBe(true);
    await dialog.getByLabel('Reason (required, recorded and announced)').fill('INC-42: exports overload the database');
    await expectAccessible('killswitch-dialog');
    await screenshot(page, 'killswitch-engage');
    await engage.click();
    await page.getByText('background-jobs is engaged.').waitFor();
    const off = await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: 'nightly-export', context: { userId: 'u-1' } } });
    expect(off.body).toMatchObject({ value: false, reason: 'off' });
    expect((await harness.api.request('GET', '/v1/killswitches/background-jobs')).body).toMatchObject({ engaged: true, reason: 'INC-42: exports overload the database', updatedBy: 'sre' });

    await card.getByRole('button', { name: 'Release…' }).click();
    await dialog.getByLabel('Reason (required, recorded and announced)').fill('INC-42 mitigated');
    await dialog.getByRole('button', { name: 'Release background-jobs' }).click();
    await page.getByText('background-jobs is released.').waitFor();
    const on = await harness.api.request('POST', '/v1/evaluate', { body: { flagKey: 'nightly-export', context: { userId: 'u-1' } } });
    expect(on.body).toMatchObject({ value: true, reason: 'percentage' });
  });

  it('works in a narrow window: nothing is wider than the screen, every page passes axe', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    for (const hash of ['#/flags', '#/flags/new-checkout', '#/flags/new-checkout/edit', '#/new-flag', '#/approvals', '#/rollouts', '#/killswitches', '#/segments']) {
      await page.goto(`${origin}/ui/${hash}`);
      await page.locator('main h1').waitFor();
      await eventually(() => page.locator('[role="status"]').first().textContent({ timeout: 200 }).catch(() => ''), (text) => !/Loading|Searching/.test(text ?? ''), 10_000);
      const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect({ hash, overflow }).toEqual({ hash, overflow: 0 });
      await expectAccessible(`narrow ${hash}`);
    }
    await page.goto(`${origin}/ui/#/flags`);
    await page.locator('.results[data-state="ready"] tbody tr').first().waitFor();
    await screenshot(page, 'narrow');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('asked nothing of any other origin and never needed its policy to refuse anything', () => {
    const elsewhere = browser.requests.filter((url) => !url.startsWith(`${origin}/`));
    expect(elsewhere).toEqual([]);
    expect(browser.requests.some((url) => url.startsWith(`${origin}/ui/vendor/preact.mjs`))).toBe(true);
    expect(browser.problems).toEqual([]);
  });
});
