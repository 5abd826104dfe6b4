import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { dependentsOf, prerequisiteClosure, type CompiledFlagSet, type Flag, type FlagImpact, type ImpactWorld, type Rollout, type Segment } from '@flagship/engine';
import { loadContextSamples, recentTokensOf, trafficShareOf } from '../data/context-samples.ts';
import type { DatabasePool } from '../data/pool.ts';
import { AppError } from '../errors.ts';
import { OVERALL_SCOPE, type ContextSampler } from './context-sampler.ts';
import type { ImpactReply, ImpactRequest } from './impact-worker.ts';

/** A change whose impact is asked for: the state it would leave behind. */
export type ProposedChange =
  | { kind: 'flag'; key: string; /** null: archived (or not there) after the change. */ flag: Flag | null }
  | { kind: 'segment'; key: string; segment: Segment | null }
  | { kind: 'killswitch'; category: string; engaged: boolean };

/** Flags compared in one preview; a segment used by more reaches them all (listed), but only these many are evaluated. */
export const MAX_PREVIEWED_FLAGS = 200;
const EXAMPLES_PER_TRANSITION = 3;

export interface ImpactReport {
  /** Every flag whose answers the change can move: the changed ones and their dependents. */
  flagsReached: string[];
  /** The impact per flag reached (the first MAX_PREVIEWED_FLAGS). */
  flags: FlagImpact[];
  /** The lines of the flags that move someone, or one line saying nobody moves. */
  summary: string;
  /** For an archive: the traffic that would get not_found, and who asked recently. */
  archive?: { trafficShare: { evaluations: number; ofAll: number; share: number }; recentTokens: { token: string; sampledContexts: number; lastSampledAt: string }[] };
}

export interface RolloutStepImpact {
  rollout: Rollout;
  /** Of the flag's sampled contexts, how many and what share would be in the rollout at this step. */
  served: number;
  share: number;
  sampled: number;
}

/**
 * Impact previews for the API (docs/impact-preview.md#impact): builds the live and the proposed
 * worlds around a change, loads the sampled contexts, and has a worker thread compile and compare
 * them, so that a preview over 100,000 contexts leaves the event loop to the evaluations.
 */
export class ImpactPreviewer {
  readonly #db: DatabasePool;
  readonly #live: () => CompiledFlagSet;
  readonly #sampler: ContextSampler | undefined;
  readonly #pseudonymKey = randomBytes(32).toString('hex');
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (impacts: FlagImpact[]) => void; reject: (error: Error) => void }>();

  constructor(options: { db: DatabasePool; live: () => CompiledFlagSet; sampler?: ContextSampler }) {
    this.#db = options.db;
    this.#live = options.live;
    this.#sampler = options.sampler;
  }

  /** The impact of a change over the sample: per flag reached, the transitions from today's answer to the proposed one. */
  async preview(change: ProposedChange): Promise<ImpactReport> {
    const live = this.#live();
    const before = worldOf(live);
    const after = applyChange(before, change);
    const changed = changedFlags(before, after, change);
    const everyFlag = [...new Map([...before.flags, ...after.flags].map((flag) => [flag.key, flag])).values()];
    const flagsReached = dependentsOf(everyFlag, changed);
    const previewed = flagsReached.slice(0, MAX_PREVIEWED_FLAGS);
    const flags = await this.#compare(before, after, previewed);
    const moving = flags.filter((impact) => impact.changed > 0);
    const report: ImpactReport = {
      flagsReached,
      flags,
      summary: moving.length === 0 ? `moves none of the sampled contexts of ${flagsReached.length} flag${flagsReached.length === 1 ? '' : 's'}` : moving.map((impact) => impact.summary).join('; '),
    };
    if (change.kind === 'flag' && change.flag === null && live.has(change.key)) {
      report.archive = { trafficShare: await trafficShareOf(this.#db, change.key), recentTokens: await recentTokensOf(this.#db, change.key) };
    }
    return report;
  }

  /** For a rollout plan: at each step, the share of the flag's sampled contexts in the rollout, and the step's own impact line. */
  async rolloutSteps(flag: Flag, rollouts: readonly Rollout[]): Promise<(RolloutStepImpact & { summary: string })[]> {
    const before = worldOf(this.#live());
    const steps: (RolloutStepImpact & { summary: string })[] = [];
    for (const rollout of rollouts) {
      const stepped: Flag = { ...flag, rollout };
      const [impact] = await this.#compare(before, applyChange(before, { kind: 'flag', key: flag.key, flag: stepped }), [flag.key]);
      // In the rollout: a distribution's every answer; a percentage's onValue (the rest get the default, reason percentage too).
      const outside = 'percentage' in rollout ? JSON.stringify(flag.defaultValue) : null;
      const served = impact!.transitions.filter((transition) => transition.to.reason === 'percentage' && transition.to.value !== outside).reduce((sum, transition) => sum + transition.count, 0);
      steps.push({ rollout, served, share: impact!.sampled === 0 ? 0 : served / impact!.sampled, sampled: impact!.sampled, summary: impact!.summary });
    }
    return steps;
  }

  async #compare(before: ImpactWorld, after: ImpactWorld, flagKeys: readonly string[]): Promise<FlagImpact[]> {
    // What this process sampled in the last seconds counts too.
    await this.#sampler?.flush();
    const perFlag = await loadContextSamples(this.#db, flagKeys);
    // The overall sample (the largest) only when some flag has no sample of its own.
    const overall = flagKeys.every((key) => key in perFlag) ? '[]' : ((await loadContextSamples(this.#db, [OVERALL_SCOPE]))[OVERALL_SCOPE] ?? '[]');
    const needed = [...flagKeys];
    const slim = (world: ImpactWorld): ImpactWorld => {
      const flags = prerequisiteClosure(new Map(world.flags.map((flag) => [flag.key, flag])), needed);
      const used = new Set(flags.flatMap((flag) => flag.rules.flatMap((rule) => rule.conditions.flatMap((condition) => ('segment' in condition ? [condition.segment] : [])))));
      return { flags, segments: world.segments.filter((segment) => used.has(segment.key)), killswitches: world.killswitches };
    };
    return this.#run({ before: slim(before), after: slim(after), flagKeys: needed, samples: perFlag, overall, examplesPerTransition: EXAMPLES_PER_TRANSITION });
  }

  #run(request: Omit<ImpactRequest, 'id'>): Promise<FlagImpact[]> {
    const worker = this.#startWorker();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, ...request });
    });
  }

  #startWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./impact-worker.ts', import.meta.url), { workerData: { pseudonymKey: this.#pseudonymKey } });
    worker.unref();
    worker.on('message', (reply: ImpactReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (!pending) return;
      if ('error' in reply) pending.reject(new AppError('internal', `the impact preview failed: ${reply.error}`));
      else pending.resolve(reply.impacts);
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', () => {
      this.#worker = undefined;
      this.#fail(new Error('the impact worker stopped'));
    });
    this.#worker = worker;
    return worker;
  }

  #fail(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(new AppError('unavailable', `the impact preview could not run: ${error.message}`));
    this.#pending.clear();
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
  }
}

/** The live set as plain definitions: what the worker compiles again on its side. */
function worldOf(set: CompiledFlagSet): ImpactWorld {
  return {
    flags: [...set.flags.values()].map((compiled) => compiled.flag),
    segments: [...set.segments.values()].map((segment) => segment.source),
    killswitches: [...set.killswitches],
  };
}

function applyChange(world: ImpactWorld, change: ProposedChange): ImpactWorld {
  switch (change.kind) {
    case 'flag': {
      const flags = world.flags.filter((flag) => flag.key !== change.key);
      if (change.flag && change.flag.state !== 'archived') flags.push(change.flag);
      return { ...world, flags };
    }
    case 'segment': {
      const segments = world.segments.filter((segment) => segment.key !== change.key);
      if (change.segment) segments.push(change.segment);
      return { ...world, segments };
    }
    case 'killswitch': {
      const killswitches = world.killswitches.filter((category) => category !== change.category);
      if (change.engaged) killswitches.push(change.category);
      return { ...world, killswitches };
    }
  }
}

/** The flags a change touches directly: the flag itself, the flags using the segment, or the flags of the category. */
function changedFlags(before: ImpactWorld, after: ImpactWorld, change: ProposedChange): string[] {
  const all = [...before.flags, ...after.flags];
  switch (change.kind) {
    case 'flag':
      return [change.key];
    case 'segment':
      return [...new Set(all.filter((flag) => flag.rules.some((rule) => rule.conditions.some((condition) => 'segment' in condition && condition.segment === change.key))).map((flag) => flag.key))];
    case 'killswitch':
      return [...new Set(all.filter((flag) => flag.killswitch === change.category).map((flag) => flag.key))];
  }
}
