import { rmSync } from 'node:fs';
import { ENV } from './test-environment.ts';

export default async function globalTeardown(): Promise<void> {
  const stops = (globalThis as { __flagsTestStops?: (() => Promise<void>)[] }).__flagsTestStops ?? [];
  for (const stop of stops.reverse()) await stop();
  const scratchDir = process.env[ENV.scratchDir];
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
}
