// `npm run bench:ofrep-streams`: what 5,000 idle OFREP event-stream clients (browsers that follow
// `eventStreams`) cost one API process: resident memory and CPU with none and with all of them
// open, idle for a while (heartbeats only), and the time until every one of them has been told of a
// flag change. The service runs as `npm start` runs it, its stream caps raised to fit (per process
// and per token; the defaults are 2,000 and 200). The clients run in this process, one socket each.
import { request, type ClientRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareBenchService } from './service.ts';

const CLIENTS = Number(process.env.BENCH_OFREP_CLIENTS ?? 5_000);
const IDLE_SECONDS = Number(process.env.BENCH_OFREP_IDLE_SECONDS ?? 30);

const service = await prepareBenchService({ FLAGS_EVENT_STREAMS_MAX: String(CLIENTS + 100), FLAGS_EVENT_STREAMS_PER_TOKEN: String(CLIENTS + 100) });
const { child } = await service.startService();
try {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${service.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${service.adminToken()}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const created = await call('POST', '/v1/flags', { key: 'bench-banner', type: 'boolean', defaultValue: false });
  if (created.status !== 201) throw new Error(`POST /v1/flags: ${created.status} ${JSON.stringify(created.body)}`);
  const browser = await call('POST', '/v1/tokens', { name: 'bench-browser', owner: { id: 'bench-browser', kind: 'service' }, scopes: ['feature_flag:evaluate'] });
  const bulk = await fetch(`${service.baseUrl}/ofrep/v1/evaluate/flags`, {
    method: 'POST',
    headers: { authorization: `Bearer ${browser.body.token as string}`, 'content-type': 'application/json' },
    body: JSON.stringify({ context: { targetingKey: 'bench' } }),
  });
  const { eventStreams } = (await bulk.json()) as { eventStreams: { endpoint: { requestUri: string } }[] };
  const streamUrl = new URL(eventStreams[0]!.endpoint.requestUri, service.baseUrl);

  const idleCost = async () => {
    const cpuBefore = service.apiCpuSeconds(child);
    await sleep(IDLE_SECONDS * 1_000);
    return { cpuPercent: ((service.apiCpuSeconds(child) - cpuBefore) / IDLE_SECONDS) * 100, rssMiB: service.apiMemory(child)[0]! };
  };
  const before = await idleCost();
  // A PATCH's answer time with no stream open, against one with all of them (same run).
  const patchMs = async (enabled: boolean) => {
    const current = (await call('GET', '/v1/flags/bench-banner')).body.version as number;
    const started = performance.now();
    const answer = await call('PATCH', '/v1/flags/bench-banner', { enabled, version: current });
    if (answer.status !== 200) throw new Error(`PATCH: ${answer.status} ${JSON.stringify(answer.body)}`);
    return performance.now() - started;
  };
  const quietPatchMs: number[] = [];
  for (let index = 0; index < 5; index += 1) quietPatchMs.push(await patchMs(index % 2 === 0));

  const clients: { request: ClientRequest; received: string }[] = [];
  const opening = performance.now();
  const statuses = new Map<number, number>();
  // In batches, as browsers arrive over time rather than in one SYN flood.
  for (let start = 0; start < CLIENTS; start += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, CLIENTS - start) }, () =>
        new Promise<void>((resolve) => {
          const client = { request: request(streamUrl, { agent: false, headers: { accept: 'text/event-stream' } }), received: '' };
          client.request.once('response', (response) => {
            statuses.set(response.statusCode ?? 0, (statuses.get(response.statusCode ?? 0) ?? 0) + 1);
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              client.received += chunk;
            });
            resolve();
          });
          client.request.once('error', () => {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
            resolve();
          });
          client.request.end();
          clients.push(client);
        }),
      ),
    );
  }
  const openSeconds = (performance.now() - opening) / 1000;
  const opened = await idleCost();

  const cpuBeforeChange = service.apiCpuSeconds(child);
  const changed = performance.now();
  // The quiet series ended enabled: this one changes an answer.
  const changePatchMs = await patchMs(false);
  let toldAll = Number.NaN;
  for (;;) {
    const told = clients.filter((client) => client.received.includes('refetchEvaluation')).length;
    if (told === statuses.get(200)) {
      toldAll = performance.now() - changed;
      break;
    }
    if (performance.now() - changed > 30_000) break;
    await sleep(5);
  }
  const changeCpu = service.apiCpuSeconds(child) - cpuBeforeChange;
  const busyPatchMs: number[] = [];
  for (let index = 0; index < 5; index += 1) {
    await sleep(500);
    busyPatchMs.push(await patchMs(index % 2 === 0));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

  console.log(`OFREP event streams: ${CLIENTS} idle clients on one API process (the launcher's), idle ${IDLE_SECONDS} s each way`);
  console.log(`  stream answers: ${JSON.stringify(Object.fromEntries(statuses))}, all open in ${openSeconds.toFixed(1)} s`);
  console.log(`  no streams:           RSS ${before.rssMiB.toFixed(0)} MiB, CPU ${before.cpuPercent.toFixed(1)}% of a core`);
  console.log(`  ${CLIENTS} idle streams:  RSS ${opened.rssMiB.toFixed(0)} MiB (+${(opened.rssMiB - before.rssMiB).toFixed(0)} MiB, ${(((opened.rssMiB - before.rssMiB) * 1024) / CLIENTS).toFixed(1)} KiB a stream), CPU ${opened.cpuPercent.toFixed(1)}% of a core`);
  console.log(`  a flag change: PATCH answered in ${changePatchMs.toFixed(0)} ms, every stream told in ${toldAll.toFixed(0)} ms (as this process's clients read it), ${(changeCpu * 1000).toFixed(0)} ms of API CPU (the ${CLIENTS} re-fetches not made)`);
  console.log(`  PATCH median of 5: ${median(quietPatchMs).toFixed(0)} ms with no stream, ${median(busyPatchMs).toFixed(0)} ms with ${CLIENTS} streams told of each`);
  for (const client of clients) client.request.destroy();
} finally {
  await service.stopService(child);
}
