import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ensureChromium } from '../../scripts/tools/chromium.ts';
import { untilToolInstalled } from './test-tools.ts';

/** Where the console's screenshots go when a run is asked to take them (UPDATE_SCREENSHOTS=1). */
const SCREENSHOTS_DIR = new URL('../../docs/images/', import.meta.url).pathname;

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Every URL the browser requested, in order. */
  requests: string[];
  /** Page errors, console errors and Content-Security-Policy violations: a clean run has none. */
  problems: string[];
  version: string;
  close(): Promise<void>;
}

/**
 * The project's own Chromium (installed into .tools/chromium on first need), headless, on a fresh
 * profile that is deleted afterwards. Nothing it needs comes from outside the machine: the flags turn
 * off every background request Chromium would make by itself.
 */
export async function startBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  await untilToolInstalled('chromium');
  const install = ensureChromium({ log: (message) => process.stderr.write(`chromium: ${message}\n`) });
  const profile = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: install.executablePath,
    headless: true,
    env: { ...process.env, ...install.env },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: options.viewport ?? { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(15_000);
  const requests: string[] = [];
  const problems: string[] = [];
  context.on('request', (request) => requests.push(request.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // The browser logs every 4xx the API answers (a refused token, a 409 the console then explains):
    // those are answers the pages handle, not problems.
    if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  // A violation of the page's policy is reported as an event in the page; collect those too.
  // (Page code is passed as text: the test project's types are Node's, not the DOM's.)
  await page.addInitScript("document.addEventListener('securitypolicyviolation', (event) => console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI))");
  return {
    context,
    page,
    requests,
    problems,
    version: context.browser()?.version() ?? install.version,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core (WCAG 2.x A and AA rules and best practices) on the page as it is and answers the
 * serious and critical violations. axe is evaluated through the DevTools protocol, so the page's own
 * Content-Security-Policy stays as strict as users get it.
 */
export async function seriousAccessibilityViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations.map((violation) => ({
    id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')),
  })))`)) as AxeViolation[];
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/**
 * Saves docs/images/console-<name>.png when UPDATE_SCREENSHOTS=1; otherwise takes nothing, so a run
 * leaves the checkout as it was. The window by default; `fullPage` for a page worth showing whole.
 */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `console-${name}.png`), fullPage: options.fullPage ?? false });
}
