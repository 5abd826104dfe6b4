import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ensurePrometheus, type PrometheusInstall } from '../../scripts/tools/prometheus.ts';
import { headingAnchors } from '../support/markdown.ts';
import { TOOL_INSTALL_TIMEOUT_MS, untilToolInstalled } from '../support/test-tools.ts';

const root = new URL('../../', import.meta.url).pathname;
const monitoring = join(root, 'monitoring/prometheus');
const rulesFile = join(monitoring, 'rules/flagship.rules.yml');
const testsFile = join(monitoring, 'tests/flagship.rules.test.yml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  exp_alerts: unknown[];
}

const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule) => rule.alert);
const alertTests = (parse(readFileSync(testsFile, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests.flatMap((test) => test.alert_rule_test ?? []);

function promtool(install: PrometheusInstall, args: string[], cwd: string) {
  const result = spawnSync(install.promtool, args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the Prometheus alert rules', () => {
  let install: PrometheusInstall;
  const scratch = mkdtempSync(join(tmpdir(), 'rules-'));
  beforeAll(async () => {
    // Debian's Prometheus, into .tools/prometheus on first need (a few seconds).
    await untilToolInstalled('prometheus');
    install = ensurePrometheus({ log: (message) => process.stderr.write(`${message}\n`) });
  }, TOOL_INSTALL_TIMEOUT_MS + 180_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('pass promtool check rules', () => {
    const result = promtool(install, ['check', 'rules', rulesFile], root);
    expect({ status: result.status, output: result.output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
  });

  it('pass their unit tests (promtool test rules)', () => {
    const result = promtool(install, ['test', 'rules', 'flagship.rules.test.yml'], join(monitoring, 'tests'));
    expect({ status: result.status, output: result.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('have, for every alert, a test case where it fires and one where it does not', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(15);
    for (const { alert } of alerts) {
      const cases = alertTests.filter((test) => test.alertname === alert);
      expect({ alert, fires: cases.some((test) => test.exp_alerts.length > 0), quiet: cases.some((test) => test.exp_alerts.length === 0) }).toEqual({ alert, fires: true, quiet: true });
    }
  });

  it('link every alert to a section of docs/runbook.md that exists', () => {
    const anchors = headingAnchors(readFileSync(join(root, 'docs/runbook.md'), 'utf8'));
    for (const { alert, annotations } of alerts) {
      const link = annotations?.runbook_url ?? '';
      expect({ alert, link: link.replace(/#.*/, '') }).toEqual({ alert, link: 'docs/runbook.md' });
      expect({ alert, anchor: anchors.has(link.replace(/^[^#]*#/, '')) }).toEqual({ alert, anchor: true });
    }
  });

  it('are loaded by the example scrape configuration, which passes promtool check config', () => {
    const configFile = join(monitoring, 'prometheus.yml');
    const result = promtool(install, ['check', 'config', configFile], root);
    expect({ status: result.status, output: result.output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
    const config = readFileSync(configFile, 'utf8');
    expect(config).toContain('job_name: flagship-api');
    expect(config).toContain('job_name: flagship-worker');
  });

  it('make the unit tests fail when a threshold moves (the tests can catch a wrong rule)', () => {
    // The 20 ms SLO moved to 50 ms: the latency test that expects the alert must now fail.
    cpSync(monitoring, join(scratch, 'prometheus'), { recursive: true });
    const mutated = join(scratch, 'prometheus/rules/flagship.rules.yml');
    const original = readFileSync(mutated, 'utf8');
    expect(original).toContain('flagship:evaluation_duration_seconds:p95_5m > 0.02');
    writeFileSync(mutated, original.replace('flagship:evaluation_duration_seconds:p95_5m > 0.02', 'flagship:evaluation_duration_seconds:p95_5m > 0.05'));
    const result = promtool(install, ['test', 'rules', 'flagship.rules.test.yml'], join(scratch, 'prometheus/tests'));
    expect(result.status).toBe(1);
    expect(result.output).toContain('alertname: FlagshipEvaluationLatencyHigh');
  });
});
