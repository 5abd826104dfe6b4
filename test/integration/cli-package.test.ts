// The CLI is a package of its own: its packed tarball installs into an empty folder, without the
// server's dependencies, and runs on the Node it is installed under.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CLI_BIN } from '../support/cli.ts';

const PACKAGE_DIR = new URL('../../packages/cli/', import.meta.url).pathname;

describe('the packed CLI', () => {
  const folder = mkdtempSync(join(tmpdir(), 'flagship-pack-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('installs from its tarball into an empty folder and answers --help', () => {
    const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' }, timeout: 240_000 });
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', folder], PACKAGE_DIR)) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((file) => file.path);
    expect(files).toContain('bin/flagship.js');
    expect(files).toContain('dist/main.js');
    expect(files.some((file) => file.startsWith('src/'))).toBe(false);
    const installDir = join(folder, 'app');
    execFileSync('mkdir', ['-p', installDir]);
    npm(['init', '-y'], installDir);
    npm(['install', '--no-audit', '--no-fund', join(folder, packed[0]!.filename)], installDir);
    // Only the CLI's own dependencies: nothing of the server (Temporal, PostgreSQL, Koa).
    const installed = readdirSync(join(installDir, 'node_modules')).filter((name) => !name.startsWith('.'));
    expect(installed.sort()).toEqual(['@flagship', 'commander', 'yaml']);
    expect(existsSync(join(installDir, 'node_modules', '@temporalio'))).toBe(false);
    const help = execFileSync(process.execPath, [join(installDir, 'node_modules', '.bin', 'flagship'), '--help'], { encoding: 'utf8' });
    expect(help).toContain('Usage: flagship [options] [command]');
    expect(help).toContain('4  approval pending');
  });
});

describe('the CLI in a pipeline', () => {
  it('exits 0 without a stack trace when the reader closes the pipe early (flagship … | head)', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'completion', 'bash'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The reader is gone before the CLI writes, as `head` is once it has its lines.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});
