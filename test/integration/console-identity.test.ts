// The console with the company's identity provider, in a real Chromium against the real API and a
// provider served on loopback by the test: signing in through the provider (authorization code with
// PKCE, back to /ui/), a person whose groups give no manage scope refused by the server and told so,
// a pasted JWT, and the lifecycle on the pages: a flag's insights, and the list's stale and owner
// filters. The browser may ask nothing of any origin but the service's and the provider's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { sql } from '../../src/data/sql.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { seriousAccessibilityViolations, screenshot, startBrowser, type TestBrowser } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { startLoopbackIdentityProvider, type LoopbackIdentityProvider } from '../support/identity-provider.ts';
import { loopbackPolicy } from '../support/outbound.ts';

const ROLES = {
  engineers: { scopes: ['feature_flag:manage', 'feature_flag:evaluate'] },
  approvers: { scopes: ['feature_flag:approve'] },
};
const ALICE = { sub: 'alice@example.com', name: 'Alice Liddell', groups: ['engineers'] };
const VICTOR = { sub: 'victor@example.com', name: 'Victor Viewer', groups: ['approvers'] };

describe('the console with the identity provider, in Chromium', () => {
  let idp: LoopbackIdentityProvider;
  let api: TestApi;
  let browser: TestBrowser;
  let page: Page;

  async function expectAccessible(name: string): Promise<void> {
    const violations = await seriousAccessibilityViolations(page);
    expect({ page: name, violations }).toEqual({ page: name, violations: [] });
  }

  /** Through the provider's authorization page, as the person signed in there. */
  async function signInWithProvider(person: typeof ALICE): Promise<void> {
    idp.signedIn = person;
    await page.goto(`${api.baseUrl}/ui/`);
    await page.getByRole('button', { name: 'Sign in with the identity provider' }).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByTestId('signed-in-as').filter({ hasText: person.name }).waitFor();
  }

  async function signOut(): Promise<void> {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
  }

  beforeAll(async () => {
    idp = await startLoopbackIdentityProvider();
    api = await startTestApi({}, { identityProvider: idp.config(ROLES, {}, { consoleClientId: 'flagship-console' }), outboundPolicy: loopbackPolicy });
    // The service reads the provider's discovery document at start; the console's policy names its token endpoint from then on.
    await eventually(() => api.request('GET', '/v1/auth/config', { token: null }), (answer) => answer.body.identityProvider?.tokenEndpoint !== null, 10_000, 100);
    browser = await startBrowser();
    page = browser.page;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await idp?.close();
  });

  it('offers the provider beside the token, with the token endpoint as the only other origin the page may reach', async () => {
    const index = await fetch(`${api.baseUrl}/ui/`);
    const policy = index.headers.get('content-security-policy') ?? '';
    expect(policy.split('; ').find((directive) => directive.startsWith('connect-src'))).toBe(`connect-src 'self' ${idp.issuer}`);
    const config = await api.request('GET', '/v1/auth/config', { token: null });
    expect(config.body.identityProvider).toMatchObject({ console: { clientId: 'flagship-console' }, cli: null, tokenEndpoint: `${idp.issuer}/token` });

    await page.goto(`${api.baseUrl}/ui/`);
    await page.getByRole('button', { name: 'Sign in with the identity provider' }).waitFor();
    await page.getByLabel('API token').waitFor();
    await expectAccessible('sign-in with the identity provider');
    await screenshot(page, 'sign-in-identity-provider');
  });

  it('signs in through the provider (code + PKCE) and lands on /ui/ as that person, from GET /v1/me', async () => {
    const since = idp.tokenRequests.length;
    await signInWithProvider(ALICE);
    expect(page.url()).toBe(`${api.baseUrl}/ui/`);
    await page.getByText('(through the identity provider)').waitFor();
    // One code, exchanged once, by the console's client, with its verifier (the provider checks it).
    expect(idp.tokenRequests.slice(since).map((request) => [request.grantType, request.clientId, request.error])).toEqual([['authorization_code', 'flagship-console', undefined]]);
    // The token is kept as a pasted one is: in this tab's sessionStorage, and it is the provider's JWT.
    expect(await page.evaluate('sessionStorage.getItem("flagship.console.token").split(".").length')).toBe(3);
    await page.getByRole('link', { name: 'New flag' }).waitFor();
    const origins = new Set(browser.requests.map((url) => new URL(url).origin));
    expect([...origins].sort()).toEqual([api.baseUrl, idp.issuer].sort());
    expect(browser.problems).toEqual([]);
    await signOut();
  });

  it('a person whose groups give no manage scope is refused by the server, and the console says so', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'not-for-victor', type: 'boolean', defaultValue: false } });
    await signInWithProvider(VICTOR);
    await page.getByRole('alert').filter({ hasText: 'Could not list flags' }).filter({ hasText: 'feature_flag:manage' }).waitFor();
    expect(await page.getByRole('link', { name: 'New flag' }).count()).toBe(0);
    await page.goto(`${api.baseUrl}/ui/#/flags/not-for-victor/edit`);
    await page.getByRole('alert').filter({ hasText: 'Could not read the flag' }).waitFor();
    expect((await api.request('GET', '/v1/flags/not-for-victor')).body.version).toBe(1);
    await signOut();
  });

  it('takes a JWT of the provider pasted as the token', async () => {
    await page.goto(`${api.baseUrl}/ui/`);
    await page.getByLabel('API token').fill(await idp.sign(ALICE));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('signed-in-as').filter({ hasText: 'Alice Liddell' }).waitFor();
    await signOut();
  });

  it('shows a flag\'s insights: counts per window by reason, variant and value, and when it was last evaluated', async () => {
    await api.request('POST', '/v1/flags', {
      body: { key: 'checkout-banner', type: 'string', defaultValue: 'control', variants: { control: 'control', bold: 'bold' }, owner: 'team-growth',
        rules: [{ id: 'beta', conditions: [{ attribute: 'beta', op: 'equals', value: true }], serve: { variant: 'bold' } }] },
    });
    for (let index = 0; index < 12; index += 1) {
      await api.request('POST', '/v1/evaluate', { body: { flagKey: 'checkout-banner', context: { userId: `u-${index}`, beta: index < 4 } } });
    }
    await api.deps.insights!.flush();
    await signInWithProvider(ALICE);
    await page.goto(`${api.baseUrl}/ui/#/flags/checkout-banner`);
    const insights = page.getByRole('region', { name: 'Insights' });
    await insights.getByTestId('last-evaluated').filter({ hasText: 'Last evaluated' }).waitFor();
    const lastDay = insights.locator('tr[data-window="24h"]');
    expect(await lastDay.locator('td.total').textContent()).toBe('12');
    // By reason, by variant (the default is served without one), by rule, by value.
    const cells = await lastDay.locator('td').allTextContents();
    expect(cells).toEqual(['12', 'default 8rule 4', 'bold 4', 'beta 4', '"control" 8"bold" 4']);
    expect(await page.getByRole('link', { name: 'team-growth' }).getAttribute('href')).toBe('#/flags?owner=team-growth');
    await expectAccessible('flag with insights');
    await screenshot(page, 'flag-insights', { fullPage: true });
  });

  it('filters the flag list by owner, and lists stale flags with the reason', async () => {
    for (const [key, owner] of [['old-payments-switch', 'team-payments'], ['old-growth-test', 'team-growth'], ['new-growth-test', 'team-growth']] as const) {
      await api.request('POST', '/v1/flags', { body: { key, type: 'boolean', defaultValue: false, owner, expectedLifetime: 30 } });
    }
    await api.db.pool.query(sql.typeAlias('void')`
      UPDATE flags SET created_at = now() - interval '45 days', updated_at = now() - interval '45 days' WHERE key IN ('old-payments-switch', 'old-growth-test')`);
    const rowKeys = () => page.locator('.results[data-state="ready"] tbody tr th').allTextContents();

    await page.goto(`${api.baseUrl}/ui/#/flags`);
    await page.getByLabel('Owner').fill('team-growth');
    await eventually(rowKeys, (keys) => keys.join() === 'checkout-banner,new-growth-test,old-growth-test', 10_000, 50);

    await page.getByLabel('Stale').selectOption('true');
    await eventually(rowKeys, (keys) => keys.join() === 'old-growth-test', 10_000, 50);
    expect(await page.locator('td.stale-reason').first().textContent()).toMatch(/^never evaluated since it was created on \d{4}-\d{2}-\d{2}$/);
    // The stale list takes the owner only: the other filters are set aside while it is chosen.
    expect(await page.getByLabel('Tag').isDisabled()).toBe(true);
    expect(page.url()).toContain('owner=team-growth');
    expect(page.url()).toContain('stale=true');

    await page.getByLabel('Owner').fill('');
    await eventually(rowKeys, (keys) => keys.join() === 'old-growth-test,old-payments-switch', 10_000, 50);
    await expectAccessible('stale flags');
    await screenshot(page, 'flags-stale');
    expect(browser.problems).toEqual([]);
  });
});
