import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ensurePrometheus } from '../../scripts/tools/prometheus.ts';
import { eventually } from '../support/eventually.ts';
import { launchService, type LaunchedService } from '../support/launched-service.ts';
import { freePorts } from '../support/ports.ts';
import { exposedNames, metricNamesIn } from '../support/promql-names.ts';
import { evaluationRound, seedService } from '../support/service-traffic.ts';
import { TOOL_INSTALL_TIMEOUT_MS, untilToolInstalled } from '../support/test-tools.ts';

const root = new URL('../../', import.meta.url).pathname;
const rulesFile = join(root, 'monitoring/prometheus/rules/flagship.rules.yml');
const dashboardsDir = join(root, 'monitoring/grafana/dashboards');

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboards = readdirSync(dashboardsDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({ file, ...(JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as { title: string; panels: Panel[] }) }));
const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] }).groups.flatMap((group) => group.rules);
/** A panel's queries as Grafana sends them: its interval variables filled in (1 s scrapes here). */
const panelQueries = dashboards.flatMap((dashboard) =>
  dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `${dashboard.file}: ${panel.title}`, expr: target.expr.replaceAll('$__rate_interval', '15s') }))),
);
const ruleQueries = rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr }));
/** Names Prometheus makes itself (scrape health) or our own recording rules make. */
const notExported = new Set(['up', ...rules.flatMap((rule) => (rule.record ? [rule.record] : []))]);

describe('the dashboards and alert rules against the running service', () => {
  let service: LaunchedService;
  let exported: Set<string>;

  beforeAll(async () => {
    service = await launchService();
    await seedService(service);
    for (let round = 0; round < 3; round += 1) await evaluationRound(service, round);
    // The first rollout's first step is due a second after it started: wait until the worker applied it.
    await eventually(() => service.text(service.workerMetricsUrl), (text) => text.includes('flags_rollout_steps_applied{flag="search-v2",state="running"} 1'), 30_000, 200);
    const [api, worker] = await Promise.all([service.text(`${service.baseUrl}/metrics`), service.text(service.workerMetricsUrl)]);
    exported = new Set([...exposedNames(api), ...exposedNames(worker)]);
  }, 240_000);

  afterAll(async () => {
    await service?.stop();
  });

  it('exports every metric name that a dashboard panel or a rule uses', () => {
    expect(panelQueries.length).toBeGreaterThan(30);
    const missing = [...panelQueries, ...ruleQueries].flatMap(({ where, expr }) => metricNamesIn(expr).filter((name) => !exported.has(name) && !notExported.has(name)).map((name) => `${where}: ${name}`));
    expect(missing).toEqual([]);
  });

  it('exports the state it was put in: per-flag series only for the tagged flag, the rollouts, the approval waiting, the refused cycle', async () => {
    const [api, worker] = await Promise.all([service.text(`${service.baseUrl}/metrics`), service.text(service.workerMetricsUrl)]);
    expect(api).toMatch(/flags_flag_evaluations_total\{flag="new-checkout",reason="rule",rule="beta"\} [1-9]/);
    expect(api).not.toContain('flag="search-v2"');
    expect(api).toMatch(/flags_flag_set_recompiled_flags_total [1-9]/);
    expect(api).toMatch(/flags_cache_lookups_total\{cache="bulk",outcome="hit"\} [1-9]/);
    expect(api).toMatch(/flags_cache_lookups_total\{cache="snapshot_etag",outcome="hit"\} [1-9]/);
    expect(api).toMatch(/flags_exposures_total [1-9]/);
    expect(api).toMatch(/flags_prerequisite_cycle_refusals_total 1\n/);
    expect(api).toMatch(/flags_http_requests_total\{method="PATCH",route="\/v1\/flags\/:key",status="409"\} 1\n/);
    expect(worker).toContain('flags_rollout_percentage{flag="search-v2"} 20');
    expect(worker).toMatch(/flags_rollout_paused_seconds\{flag="dark-mode",cause="manual"\} \d/);
    expect(worker).toContain('flags_rollouts{state="paused"} 1');
    expect(worker).toContain('flags_approvals_pending 1');
    expect(worker).toContain('flags_temporal_up 1');
  });

  describe('scraped by a real Prometheus with the rules loaded', () => {
    let prometheus: ChildProcess | undefined;
    let prometheusUrl: string;
    let prometheusOutput = '';
    const scratch = mkdtempSync(join(tmpdir(), 'prometheus-'));
    const query = async (expr: string) => (await (await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as { status: string; error?: string; data?: { result: unknown[] } };

    beforeAll(async () => {
      await untilToolInstalled('prometheus');
      const install = ensurePrometheus({ log: (message) => process.stderr.write(`${message}\n`) });
      const port = await freePorts(1);
      prometheusUrl = `http://127.0.0.1:${port}`;
      // The jobs of monitoring/prometheus/prometheus.yml, on static targets.
      const target = (url: string) => new URL(url).host;
      const config = {
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [rulesFile],
        scrape_configs: [
          { job_name: 'flagship-api', authorization: { type: 'Bearer', credentials: service.adminToken }, static_configs: [{ targets: [target(service.baseUrl)] }] },
          { job_name: 'flagship-worker', static_configs: [{ targets: [target(service.workerMetricsUrl)] }] },
        ],
      };
      writeFileSync(join(scratch, 'prometheus.yml'), JSON.stringify(config));
      prometheus = spawn(install.prometheus, [`--config.file=${join(scratch, 'prometheus.yml')}`, `--storage.tsdb.path=${join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h'], { stdio: ['ignore', 'pipe', 'pipe'] });
      prometheus.stdout?.on('data', (chunk: Buffer) => (prometheusOutput += chunk.toString()));
      prometheus.stderr?.on('data', (chunk: Buffer) => (prometheusOutput += chunk.toString()));
      try {
        // Both targets scraped (the first scrape comes after a random offset of up to one interval)…
        await eventually(async () => (await query('sum(up{job=~"flagship-api|flagship-worker"})').catch(() => undefined))?.data?.result, (result) => JSON.stringify(result ?? []).includes('"2"'), 30_000, 250);
        // …more traffic after that, until a rate over the panels' 15 s window sees it (two scrapes apart)…
        let round = 3;
        await eventually(
          async () => {
            await evaluationRound(service, round++);
            return (await query('sum(rate(flags_evaluation_duration_seconds_count{endpoint="evaluate"}[15s])) > 0')).data?.result.length ?? 0;
          },
          (found) => found > 0,
          30_000,
          250,
        );
        // …and every rule evaluated since.
        await eventually(() => rulesState(), (state) => state.every((rule) => rule.health !== 'unknown') && state.length === rules.length, 30_000, 250);
      } catch (error) {
        throw new Error(`${String(error)}\nPrometheus said:\n${prometheusOutput.slice(-3000)}`);
      }
    }, TOOL_INSTALL_TIMEOUT_MS + 120_000);

    afterAll(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        await exited;
      }
      rmSync(scratch, { recursive: true, force: true });
    });

    async function rulesState(): Promise<{ name: string; health: string; lastError?: string }[]> {
      const answer = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
      return answer.data.groups.flatMap((group) => group.rules);
    }

    it('evaluates every rule without an error', async () => {
      const state = await rulesState();
      expect(state.map((rule) => rule.name).sort()).toEqual(rules.map((rule) => rule.alert ?? rule.record).sort());
      expect(state.filter((rule) => rule.health !== 'ok')).toEqual([]);
    });

    it('answers every dashboard query, with data for the ones this traffic feeds', async () => {
      const answers = await Promise.all(panelQueries.map(async ({ where, expr }) => ({ where, answer: await query(expr) })));
      expect(answers.filter(({ answer }) => answer.status !== 'success').map(({ where, answer }) => `${where}: ${answer.error}`)).toEqual([]);
      const withData = new Set(answers.filter(({ answer }) => (answer.data?.result.length ?? 0) > 0).map(({ where }) => where));
      for (const where of [
        'flagship-evaluation.json: Evaluation p95 (single flags)',
        'flagship-evaluation.json: Answers by reason',
        'flagship-evaluation.json: Tagged flags (flagship:metrics) by reason and rule',
        'flagship-evaluation.json: Errors by route and status',
        'flagship-flags-rollouts.json: Rollouts by state',
        'flagship-flags-rollouts.json: Rollout percentage by flag',
        'flagship-flags-rollouts.json: Approvals waiting',
        'flagship-health.json: Task queue backlog',
        'flagship-health.json: Snapshot publication lag',
      ]) {
        expect({ where, hasData: withData.has(where) }).toEqual({ where, hasData: true });
      }
    });

    it('fires no alert for a healthy service', async () => {
      const answer = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
      expect(answer.data.alerts.filter((alert) => alert.state === 'firing').map((alert) => alert.labels.alertname)).toEqual([]);
    });
  });
});
