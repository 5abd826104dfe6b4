// The real service as `npm start` runs it — embedded PostgreSQL, a Temporal dev server, the worker
// and the API — on a scratch data folder and free ports below the ephemeral range, for tests and
// scripts that need every process (metrics of the API and of the worker).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTokenSecret } from '../../src/data/tokens.ts';
import { eventually } from './eventually.ts';
import { freePorts } from './ports.ts';

const LAUNCHER = new URL('../../src/launcher/main.ts', import.meta.url).pathname;

export interface LaunchedService {
  baseUrl: string;
  /** The worker's metrics endpoint (FLAGS_WORKER_METRICS_PORT). */
  workerMetricsUrl: string;
  adminToken: string;
  /** What the processes printed so far. */
  output(): string;
  /** GET with the admin token; the text of the answer, or an error naming the status. */
  text(url: string): Promise<string>;
  /** A JSON request to the API with the admin token. */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: unknown; headers: Headers }>;
  stop(): Promise<void>;
}

export async function launchService(options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<LaunchedService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flagship-service-'));
  // PostgreSQL runs as its own user when we are root, and must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  const port = await freePorts(1);
  const workerMetricsPort = await freePorts(1);
  const adminToken = generateTokenSecret();
  const child: ChildProcess = spawn(process.execPath, [LAUNCHER], {
    env: {
      ...process.env,
      FLAGS_DATA_DIR: dataDir,
      PORT: String(port),
      FLAGS_PG_PORT: String(await freePorts(1)),
      FLAGS_TEMPORAL_PORT: String(await freePorts(3)),
      FLAGS_TEMPORAL_UI_PORT: String(await freePorts(1)),
      FLAGS_WORKER_METRICS_PORT: String(workerMetricsPort),
      FLAGS_ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = () => {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${output}`);
    return output.includes('Feature-flag service ready');
  };
  try {
    await eventually(ready, Boolean, options.timeoutMs ?? 120_000, 100);
  } catch (error) {
    child.kill('SIGTERM');
    throw new Error(`the service did not start in time: ${(error as Error).message}:\n${output}`, { cause: error });
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  const authorization = `Bearer ${adminToken}`;
  return {
    baseUrl,
    workerMetricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics`,
    adminToken,
    output: () => output,
    async text(url) {
      const response = await fetch(url, { headers: { authorization } });
      const text = await response.text();
      if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${text.slice(0, 300)}`);
      return text;
    },
    async request(method, path, body, headers = {}) {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON: the text is the body.
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
