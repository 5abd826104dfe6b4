// The load generator of `npm run bench:faults`, run as its own process so that it does not share an
// event loop with the service or the benchmark's own clients. Sends POSTs at a fixed rate, spread
// over the given base URLs, and records every request: when it was sent (wall clock, so the parent
// can cut the run into phases), how long it took, and its status (0: no answer). Writes them as
// JSON to the file named in argv[3]; reads its scenario from the JSON file named in argv[2].
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

interface Scenario {
  baseUrls: string[];
  path: string;
  headers: Record<string, string>;
  /** Bodies rotated request by request. */
  bodies: string[];
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections per base URL. */
  connections: number;
  /** A request without an answer after this long counts as failed (status 0). */
  timeoutMs: number;
}

const scenario = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Scenario;
/** [sent at (epoch ms), latency (ms), status] per request. */
const samples: [number, number, number][] = [];
const agents = scenario.baseUrls.map(() => new Agent({ keepAlive: true, maxSockets: scenario.connections }));
const targets = scenario.baseUrls.map((base) => new URL(scenario.path, base));
let sent = 0;
let inFlight = 0;

function send(index: number): void {
  const target = targets[index % targets.length]!;
  const body = scenario.bodies[index % scenario.bodies.length]!;
  const sentAt = Date.now();
  const started = performance.now();
  inFlight += 1;
  let settled = false;
  const settle = (status: number) => {
    if (settled) return;
    settled = true;
    inFlight -= 1;
    samples.push([sentAt, performance.now() - started, status]);
  };
  const outgoing = request(
    target,
    { method: 'POST', agent: agents[index % agents.length], headers: { ...scenario.headers, 'content-length': Buffer.byteLength(body) }, timeout: scenario.timeoutMs },
    (response) => {
      response.resume();
      response.once('end', () => settle(response.statusCode ?? 0));
      response.once('error', () => settle(0));
    },
  );
  outgoing.once('timeout', () => outgoing.destroy(new Error('timeout')));
  outgoing.once('error', () => settle(0));
  outgoing.end(body);
}

const startedAt = performance.now();
const endAt = startedAt + scenario.durationSeconds * 1_000;
// A short tick that sends whatever is due: the rate holds on average and no burst is larger than a tick's share.
const ticker = setInterval(() => {
  const now = Math.min(performance.now(), endAt);
  const due = Math.floor(((now - startedAt) / 1_000) * scenario.rate);
  while (sent < due) send(sent++);
  if (now >= endAt) {
    clearInterval(ticker);
    const waitUntil = performance.now() + scenario.timeoutMs + 1_000;
    const finish = setInterval(() => {
      if (inFlight > 0 && performance.now() < waitUntil) return;
      clearInterval(finish);
      writeFileSync(process.argv[3]!, JSON.stringify(samples));
      for (const agent of agents) agent.destroy();
      process.exit(0);
    }, 50);
  }
}, 2);
