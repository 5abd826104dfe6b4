// Runs the real `flagship` CLI as a subprocess, as a person or a pipeline would.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI_BIN = new URL('../../packages/cli/bin/flagship.js', import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process's peak resident memory in bytes, when asked for with `measureRss`. */
  maxRssBytes?: number;
}

// Preloaded only when a test measures memory: the process reports its own peak on exit.
const REPORT_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nmax-rss-kb='+process.resourceUsage().maxRSS+'\\n'))`;

/**
 * `flagship ...args` with a fresh config home (no profile of the machine's user leaks in) and the
 * given environment; answers when it exits. `onStderr` sees stderr as it grows.
 */
export async function runCli(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string; measureRss?: boolean; onStderr?: (soFar: string) => void } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [...(options.measureRss ? ['--import', REPORT_RSS] : []), CLI_BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      FLAGSHIP_CONFIG: join(mkdtempSync(join(tmpdir(), 'flagship-cli-')), 'config.yaml'),
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // What a person at the terminal reads while the command still runs (a sign-in code).
    options.onStderr?.(stderr);
  });
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  const rss = /\nmax-rss-kb=(\d+)\n$/.exec(stderr);
  if (rss) stderr = stderr.slice(0, rss.index);
  return { code, stdout, stderr, ...(rss ? { maxRssBytes: Number(rss[1]) * 1024 } : {}) };
}
