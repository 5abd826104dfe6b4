// Reads a V8 CPU profile (`node --cpu-prof`) and says where the time went: the functions with the
// most self time, and the same time grouped by where the code lives (Node's HTTP core, Koa, the
// router, zod, our API layer, the engine, garbage collection…), as shares of the busy time (idle
// left out). `npm run bench:http` prints it for an API process when BENCH_PROFILE=1; on its own:
// `node bench/cpu-profile-summary.ts <file.cpuprofile> [top]`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

export interface ProfileSummary {
  busySamples: number;
  top: { name: string; where: string; share: number }[];
  categories: { category: string; share: number }[];
}

const root = new URL('../', import.meta.url).href;

/** Where a frame's code lives, in the terms the profile used. */
export function categoryOf(frame: ProfileNode['callFrame']): string {
  const { functionName, url } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'V8/native, unattributed';
  if (url === '') return 'V8 builtins (JSON, RegExp, Map…)';
  if (/^node:(_http_|http$|internal\/http)/.test(url)) return 'Node HTTP core (JS)';
  if (/^node:(net|stream|internal\/(streams|stream_base_commons|net))/.test(url)) return 'Node net and streams';
  if (/^node:(async_hooks|internal\/async_hooks|internal\/async_local_storage)/.test(url)) return 'Node async context';
  if (url.startsWith('node:')) return 'Node, other';
  const packageName = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (packageName) return packageName;
  const ours = url.startsWith(root) ? url.slice(root.length) : url;
  if (ours.startsWith('src/engine/')) return 'engine (src/engine)';
  if (ours.startsWith('src/api/')) return 'API layer (src/api)';
  return ours.startsWith('src/') ? 'ours, other (src)' : ours;
}

export function summariseCpuProfile(profile: CpuProfile, topCount = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfSamples = new Map<number, number>();
  for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
  const byFunction = new Map<string, { name: string; where: string; samples: number }>();
  const byCategory = new Map<string, number>();
  let busy = 0;
  for (const [id, samples] of selfSamples) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += samples;
    const where = frame.url ? `${frame.url.replace(root, '')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: frame.functionName || '(anonymous)', where, samples: 0 };
    entry.samples += samples;
    byFunction.set(key, entry);
    const category = categoryOf(frame);
    byCategory.set(category, (byCategory.get(category) ?? 0) + samples);
  }
  const share = (samples: number) => samples / Math.max(1, busy);
  return {
    busySamples: busy,
    top: [...byFunction.values()].sort((a, b) => b.samples - a.samples).slice(0, topCount).map(({ name, where, samples }) => ({ name, where, share: share(samples) })),
    categories: [...byCategory].sort((a, b) => b[1] - a[1]).map(([category, samples]) => ({ category, share: share(samples) })),
  };
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const percent = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  return [
    `busy samples: ${summary.busySamples} (idle left out)`,
    'by where the code lives:',
    ...summary.categories.filter((entry) => entry.share >= 0.002).map((entry) => `  ${percent(entry.share)}  ${entry.category}`),
    'top functions by self time:',
    ...summary.top.map((entry) => `  ${percent(entry.share)}  ${entry.name}  ${entry.where}`),
  ].join('\n');
}

if (import.meta.main) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/cpu-profile-summary.ts <file.cpuprofile> [top]');
  console.log(formatProfileSummary(summariseCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 25))));
}
