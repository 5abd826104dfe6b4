// CPU time used by a process tree, by part of the service, read from /proc (Linux). Throughput on a
// shared machine moves with the neighbours' load; the CPU a committed write costs each part moves
// much less, so benchmarks print it to compare versions.
import { readdirSync, readFileSync } from 'node:fs';
import { CLOCK_TICKS_PER_SECOND } from './service.ts';

interface ProcessTimes {
  parent: number;
  command: string;
  /** Its own user and system time plus that of its children it has reaped (exited backends). */
  cpuMs: number;
}

function readProcess(pid: number): ProcessTimes | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { parent: Number(fields[1]), command, cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND };
  } catch {
    return null; // it exited meanwhile
  }
}

/** What a command line is, as the service's parts: the API processes, PostgreSQL, the worker, Temporal. */
export function partOf(command: string): string {
  if (command.includes('postgres')) return 'PostgreSQL';
  if (command.includes('temporal')) return 'Temporal';
  if (command.includes('worker/main.ts')) return 'worker';
  return 'API';
}

/** CPU milliseconds used so far by `rootPid` and everything below it, by part (see partOf). */
export function treeCpuMs(rootPid: number): Map<string, number> {
  const processes = new Map<number, ProcessTimes>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const times = readProcess(Number(entry));
    if (times) processes.set(Number(entry), times);
  }
  const inTree = (pid: number): boolean => {
    for (let current = pid; current > 1; current = processes.get(current)?.parent ?? 0) if (current === rootPid) return true;
    return false;
  };
  const byPart = new Map<string, number>();
  for (const [pid, times] of processes) {
    if (!inTree(pid)) continue;
    const part = partOf(times.command);
    byPart.set(part, (byPart.get(part) ?? 0) + times.cpuMs);
  }
  return byPart;
}

/** What each part used between two readings, in milliseconds. */
export function cpuSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([part, ms]) => [part, Math.max(0, ms - (before.get(part) ?? 0))]));
}
