// Jest's Node environment, with one scratch folder per test file as the file's temporary folder.
// Tests make data folders for PostgreSQL clusters, services and tools (50–700 MB each) and did not
// always remove them: a stopped run, a failed assertion before the clean-up, or a test that never
// had one left them behind, run after run, until a shared CI machine's disk was full. Here every
// `os.tmpdir()` of the file, and of the processes it starts, lands in a folder removed when the file
// ends, whatever the file's own tests did.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment as NodeEnvironment } from 'jest-environment-node';

export default class ScratchEnvironment extends NodeEnvironment {
  private readonly scratchDir: string;
  private readonly previousTmpDir: string | undefined;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    const scratchDir = mkdtempSync(join(tmpdir(), 'test-file-'));
    // PostgreSQL runs as its own user when we are root, and must pass through to its cluster.
    chmodSync(scratchDir, 0o755);
    const previousTmpDir = process.env.TMPDIR;
    // The worker's own environment (Jest gives the test a copy of it, made by the constructor below):
    // `os.tmpdir()` reads the real one, and a worker runs one file at a time.
    process.env.TMPDIR = scratchDir;
    super(config, context);
    this.scratchDir = scratchDir;
    this.previousTmpDir = previousTmpDir;
  }

  override async teardown(): Promise<void> {
    await super.teardown();
    if (this.previousTmpDir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = this.previousTmpDir;
    // A process the file started may still be writing as it exits; a few retries outlast it, and
    // `npm test` removes whatever is left with its run's folder.
    rmSync(this.scratchDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}
