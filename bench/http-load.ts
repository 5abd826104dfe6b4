// The load generator of `npm run bench:http`, run as its own process so that it does not share an
// event loop with the service. Reads one scenario from the JSON file named in argv, prints one JSON result.
import { readFileSync } from 'node:fs';
import autocannon, { type Request, type Result } from 'autocannon';

interface Scenario {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Bodies rotated request by request (contexts over many users). */
  bodies?: string[];
  /** Paths rotated with the bodies (OFREP names the flag in the path); absent: the URL's path. */
  paths?: string[];
  connections: number;
  durationSeconds: number;
  /** Requests per second across all connections; absent means as fast as it goes. */
  overallRate?: number;
}

const scenario = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Scenario;
const latencies: number[] = [];
let next = 0;
const { bodies, paths } = scenario;

const instance = autocannon({
  url: scenario.url,
  method: scenario.method,
  headers: scenario.headers,
  connections: scenario.connections,
  duration: scenario.durationSeconds,
  ...(scenario.overallRate ? { overallRate: scenario.overallRate } : {}),
  requests: [
    {
      method: scenario.method,
      ...(bodies
        ? {
            setupRequest: (request: Request) => {
              const index = next++;
              request.body = bodies[index % bodies.length];
              if (paths) request.path = paths[index % paths.length];
              return request;
            },
          }
        : {}),
    },
  ],
}, (error, result) => {
  if (error) throw error;
  report(result as Result & { statusCodeStats?: Record<string, { count: number }> });
});

instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
  latencies.push(responseTime);
});

function report(result: Result & { statusCodeStats?: Record<string, { count: number }> }): void {
  latencies.sort((a, b) => a - b);
  const at = (quantile: number) => latencies[Math.min(latencies.length - 1, Math.floor(quantile * latencies.length))] ?? Number.NaN;
  process.stdout.write(
    JSON.stringify({
      name: scenario.name,
      requests: result.requests.total,
      rps: result.requests.total / result.duration,
      p50: at(0.5),
      p95: at(0.95),
      p99: at(0.99),
      max: latencies.at(-1) ?? Number.NaN,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count])),
    }) + '\n',
  );
}
