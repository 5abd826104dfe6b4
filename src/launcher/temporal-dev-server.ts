import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from '../log.ts';
import { stopChild } from './child-process.ts';

const TEMPORAL_CONFIG_DIR = new URL('../../temporal/', import.meta.url).pathname;

export interface RunningTemporal {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

function devServerArguments(options: {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  extraNamespaces?: readonly string[];
}): string[] {
  const searchAttributes = JSON.parse(readFileSync(join(TEMPORAL_CONFIG_DIR, 'search-attributes.json'), 'utf8')) as Record<string, string>;
  const { dynamicConfig } = JSON.parse(readFileSync(join(TEMPORAL_CONFIG_DIR, 'dev-server.json'), 'utf8')) as {
    dynamicConfig: Record<string, unknown>;
  };
  return [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    // Derived so that two instances with different FLAGS_TEMPORAL_PORTs never share these.
    '--http-port', String(options.port + 1),
    '--metrics-port', String(options.port + 2),
    '--ui-port', String(options.uiPort),
    '--db-filename', join(options.dataDir, 'temporal.sqlite'),
    ...[options.namespace, ...(options.extraNamespaces ?? [])].flatMap((namespace) => ['--namespace', namespace]),
    '--log-level', 'warn',
    '--ui-disable-news-fetch',
    ...Object.entries(searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...Object.entries(dynamicConfig).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ];
}

/**
 * Starts `temporal server start-dev` with its SQLite file in the data folder, the search attributes
 * from `temporal/search-attributes.json` registered, and waits until its frontend answers.
 */
export async function startTemporalDevServer(options: {
  cliPath: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** More namespaces to create beside `namespace`, each with the same search attributes. */
  extraNamespaces?: readonly string[];
  log: Logger;
  readyTimeoutMs?: number;
}): Promise<RunningTemporal> {
  mkdirSync(options.dataDir, { recursive: true });
  const child = spawn(options.cliPath, devServerArguments(options), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  const address = `127.0.0.1:${options.port}`;
  const running: RunningTemporal = {
    address,
    uiUrl: `http://127.0.0.1:${options.uiPort}`,
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      throw new Error(`the Temporal dev server ${exited} (is port ${options.port} or ${options.uiPort} taken? set FLAGS_TEMPORAL_PORT / FLAGS_TEMPORAL_UI_PORT):\n${output.trim()}`);
    }
    if (await frontendAnswers(address, [options.namespace, ...(options.extraNamespaces ?? [])])) return running;
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`the Temporal dev server did not answer on ${address} in time:\n${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function frontendAnswers(address: string, namespaces: readonly string[]): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    for (const namespace of namespaces) await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
