// The CLI is a package of its own: its packed tarball installs into an empty folder, without the
// server's dependencies, and runs on the Node it is installed under.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CLI_BIN } from '../support/cli.ts';
import { installedPackages, installTarballs, packWorkspace } from '../support/packed-workspace.ts';

describe('the packed CLI', () => {
  const folder = mkdtempSync(join(tmpdir(), 'flagship-pack-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('installs from its tarball into an empty folder and answers --help', () => {
    const { tarball, files } = packWorkspace('packages/cli', folder);
    expect(files).toContain('bin/flagship.js');
    expect(files).toContain('dist/main.js');
    expect(files.some((file) => file.startsWith('src/'))).toBe(false);
    const installDir = join(folder, 'app');
    installTarballs(installDir, [tarball]);
    // Only the CLI's own dependencies: nothing of the server (Temporal, PostgreSQL, Koa).
    expect(installedPackages(installDir)).toEqual(['@flagship/cli', 'commander', 'yaml']);
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
