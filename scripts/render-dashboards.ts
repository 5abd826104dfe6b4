// `npm run render:dashboards`: the screenshots of docs/operations.md. Runs the real service (as
// `npm start` does), drives traffic at it for RENDER_MINUTES (default 6), has a real Prometheus
// (Debian's, .tools/prometheus) scrape it with the alert rules loaded, then draws every dashboard of
// monitoring/grafana/dashboards from its JSON — each panel's query run against that Prometheus —
// in Debian's Chromium (.tools/chromium), and saves docs/images/dashboard-<name>.png. Not Grafana:
// no Grafana server is reachable from the registries this project uses; see monitoring/grafana/render/page.js
// for what is Grafana's and what is not.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { launchService } from '../test/support/launched-service.ts';
import { freePorts } from '../test/support/ports.ts';
import { evaluationRound, seedService } from '../test/support/service-traffic.ts';
import { ensureChromium } from './tools/chromium.ts';
import { ensurePrometheus } from './tools/prometheus.ts';

const root = new URL('../', import.meta.url).pathname;
const MINUTES = Number(process.env.RENDER_MINUTES ?? 6);
const SCRAPE_SECONDS = 5;
const dashboardsDir = join(root, 'monitoring/grafana/dashboards');
const uplot = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

const scratch = mkdtempSync(join(tmpdir(), 'render-dashboards-'));
const stops: (() => Promise<void> | void)[] = [];
const log = (message: string) => process.stderr.write(`${message}\n`);

async function startPrometheus(binary: string, targets: { api: string; worker: string; token: string }): Promise<string> {
  const port = await freePorts(1);
  const config = {
    global: { scrape_interval: `${SCRAPE_SECONDS}s`, evaluation_interval: `${SCRAPE_SECONDS}s` },
    rule_files: [join(root, 'monitoring/prometheus/rules/flagship.rules.yml')],
    scrape_configs: [
      { job_name: 'flagship-api', authorization: { type: 'Bearer', credentials: targets.token }, static_configs: [{ targets: [targets.api] }] },
      { job_name: 'flagship-worker', static_configs: [{ targets: [targets.worker] }] },
    ],
  };
  writeFileSync(join(scratch, 'prometheus.yml'), JSON.stringify(config));
  const child: ChildProcess = spawn(binary, [`--config.file=${join(scratch, 'prometheus.yml')}`, `--storage.tsdb.path=${join(scratch, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  stops.push(() => new Promise<void>((resolve) => (child.exitCode === null ? (child.once('exit', () => resolve()), child.kill('SIGTERM')) : resolve())));
  return `http://127.0.0.1:${port}`;
}

/** Serves the renderer page, uPlot, one dashboard JSON and a proxy of Prometheus's query API. */
async function serveRenderer(prometheus: string): Promise<{ url: string; show(file: string): void }> {
  let dashboardFile = '';
  const files: Record<string, [string, string]> = {
    '/': [join(root, 'monitoring/grafana/render/page.html'), 'text/html'],
    '/page.js': [join(root, 'monitoring/grafana/render/page.js'), 'text/javascript'],
    '/uPlot.iife.min.js': [join(uplot, 'uPlot.iife.min.js'), 'text/javascript'],
    '/uPlot.min.css': [join(uplot, 'uPlot.min.css'), 'text/css'],
  };
  const target = new URL(prometheus);
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://renderer').pathname;
    if (path.startsWith('/api/v1/')) {
      const proxied = httpRequest({ host: target.hostname, port: target.port, path: request.url, method: 'GET' }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json' });
        answer.pipe(response);
      });
      proxied.on('error', (error) => response.writeHead(502).end(JSON.stringify({ status: 'error', error: error.message })));
      proxied.end();
      return;
    }
    const [file, type] = path === '/dashboard.json' ? [join(dashboardsDir, dashboardFile), 'application/json'] : (files[path] ?? ['', '']);
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': type });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, show: (file) => (dashboardFile = file) };
}

/** Chromium over the DevTools protocol (Node's own WebSocket): navigate, wait for the page, screenshot the whole of it. */
async function openBrowser(): Promise<{ screenshot(url: string, path: string): Promise<void> }> {
  const chromium = ensureChromium({ log });
  const profile = join(scratch, 'chromium-profile');
  const child = spawn(chromium.executablePath, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=1616,1000', 'about:blank'], {
    env: { ...process.env, ...chromium.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  stops.push(() => new Promise<void>((resolve) => (child.exitCode === null ? (child.once('exit', () => resolve()), child.kill('SIGTERM')) : resolve())));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`Chromium exited (${code}): ${output}`)));
  });
  const targets = (await (await fetch(`http://${new URL(endpoint).host}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets.find((target) => target.type === 'page')!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 0;
  const pending = new Map<number, (message: { result?: Record<string, unknown>; error?: { message: string } }) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    if (message.id !== undefined) pending.get(message.id)?.(message);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, (message) => (message.error ? reject(new Error(`${method}: ${message.error.message}`)) : resolve(message.result ?? {})));
      socket.send(JSON.stringify({ id, method, params }));
    });
  const evaluate = async (expression: string) => ((await send('Runtime.evaluate', { expression, returnByValue: true })).result as { value: unknown }).value;
  stops.push(() => socket.close());
  return {
    async screenshot(url, path) {
      await send('Emulation.setDeviceMetricsOverride', { width: 1616, height: 1000, deviceScaleFactor: 1, mobile: false });
      await send('Page.navigate', { url });
      const deadline = Date.now() + 60_000;
      while ((await evaluate('window.renderDone === true').catch(() => false)) !== true) {
        if (Date.now() > deadline) throw new Error(`the page did not finish drawing ${url}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const height = Number(await evaluate('document.documentElement.scrollHeight'));
      await send('Emulation.setDeviceMetricsOverride', { width: 1616, height, deviceScaleFactor: 1, mobile: false });
      const errors = await evaluate("[...document.querySelectorAll('[data-error]')].map((panel) => panel.querySelector('.title').textContent + ': ' + panel.dataset.error)");
      if (Array.isArray(errors) && errors.length) throw new Error(`panels failed: ${errors.join('; ')}`);
      const { data } = (await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
      writeFileSync(path, Buffer.from(data, 'base64'));
    },
  };
}

try {
  const prometheusInstall = ensurePrometheus({ log });
  const service = await launchService();
  stops.push(() => service.stop());
  log(`service up at ${service.baseUrl}; seeding`);
  await seedService(service);
  const prometheus = await startPrometheus(prometheusInstall.prometheus, { api: new URL(service.baseUrl).host, worker: new URL(service.workerMetricsUrl).host, token: service.adminToken });
  // A rollout that takes a step a minute while the traffic runs.
  await service.request('POST', '/v1/flags/banner-color/rollouts', { steps: [1, 2, 3, 4, 5].map((step) => ({ percentage: step * 20, after: '60s' })) });
  const started = Math.floor(Date.now() / 1000);
  log(`driving traffic for ${MINUTES} minutes`);
  let round = 0;
  while (Date.now() / 1000 - started < MINUTES * 60) {
    await evaluationRound(service, round);
    // A change every 20 rounds, so the flag set's changes and compile times have something to show.
    if (round % 20 === 0) await service.request('PATCH', '/v1/flags/new-checkout', { description: `round ${round}` }, { 'if-match': String(1 + round / 20) });
    round += 1;
  }
  await new Promise((resolve) => setTimeout(resolve, 2 * SCRAPE_SECONDS * 1000));
  const to = Math.floor(Date.now() / 1000);
  const renderer = await serveRenderer(prometheus);
  const browser = await openBrowser();
  for (const file of readdirSync(dashboardsDir).filter((name) => name.endsWith('.json'))) {
    renderer.show(file);
    const output = join(root, 'docs/images', `dashboard-${file.replace(/\.json$/, '')}.png`);
    await browser.screenshot(`${renderer.url}?${new URLSearchParams({ file, from: String(started), to: String(to), scrape: String(SCRAPE_SECONDS) })}`, output);
    log(`wrote ${output}`);
  }
  log(`${round} rounds of traffic`);
} finally {
  for (const stop of stops.reverse()) await stop();
  rmSync(scratch, { recursive: true, force: true });
}
