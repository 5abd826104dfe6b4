/**
 * Engine benchmark: `npm run bench:engine`.
 *
 * The same three flags, evaluated by this engine, by the in-process evaluators of unleash-client,
 * @growthbook/growthbook and @openfeature/flagd-core (all offline, configured in memory), and by a
 * hand-written baseline that does only the hash and the comparisons:
 *   1. plain     a plain boolean flag, on for everyone;
 *   2. rollout   a 25% rollout by userId;
 *   3. targeted  "country in [DE, FR, NL] and plan = pro and email matches @example.com$",
 *                otherwise a 50/30/20 split by userId.
 * Contexts rotate over 10,000 pre-built users with UUID-shaped ids (each engine gets the users in
 * its own context shape, built before timing). Then: bulk evaluation of 1,000 flags for one
 * context, and compile time and heap for 10,000 flags.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GrowthBookClient } from '@growthbook/growthbook';
import { FlagdCore } from '@openfeature/flagd-core';
import { do_not_optimize, measure } from 'mitata';
import murmur from 'murmurhash-js';
import { compileFlagSet, evaluate, evaluateAll, type EvaluationResult, type Flag } from '@flagship/engine';
import { validateFlag } from '@flagship/engine/validate';
import { bucketWith, prepareSalt } from '../src/engine/hash.ts';
import { seededRandom, uuidFrom } from '../test/engine/support/seeded-random.ts';

const require = createRequire(import.meta.url);

// ───────────────────────────── users ─────────────────────────────

const random = seededRandom(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

type User = {
  userId: string;
  country: string;
  plan: string;
  email: string;
};

const USERS = 10_000;
const users: User[] = Array.from({ length: USERS }, (_, i) => ({
  userId: uuidFrom(random),
  country: pick(['DE', 'FR', 'NL', 'DE', 'US', 'GB']),
  plan: pick(['pro', 'pro', 'free', 'team']),
  email: `user${i}@${pick(['example.com', 'example.com', 'example.com', 'mail.test'])}`,
}));

// ───────────────────────────── this engine ─────────────────────────────

function definition(input: Record<string, unknown>): Flag {
  const result = validateFlag(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return { ...result.value, state: 'active', version: 1 };
}

const targetedRule = (pattern: string) => ({
  id: 'targeted-rule',
  conditions: [
    { attribute: 'country', op: 'in', value: ['DE', 'FR', 'NL'] },
    { attribute: 'plan', op: 'equals', value: 'pro' },
    { attribute: 'email', op: 'regex', value: pattern },
  ],
  serve: { value: 'rule' },
});
const split = [
  { variant: 'A', weight: 50 },
  { variant: 'B', weight: 30 },
  { variant: 'C', weight: 20 },
];
const ourFlags = [
  definition({ key: 'plain', type: 'boolean', defaultValue: true }),
  definition({ key: 'rollout', type: 'boolean', defaultValue: false, rollout: { percentage: 25 } }),
  definition({ key: 'targeted', type: 'string', defaultValue: 'none', variants: { A: 'a', B: 'b', C: 'c' }, rules: [targetedRule('@example\\.com$')], rollout: { distribution: split } }),
  // The same flag with a pattern that is not a plain literal, so it runs on re2js (for information).
  definition({ key: 'targeted-re2', type: 'string', defaultValue: 'none', variants: { A: 'a', B: 'b', C: 'c' }, rules: [targetedRule('@example\\.(com)$')], rollout: { distribution: split } }),
];
const set = compileFlagSet({ flags: ourFlags, segments: [] });

// ───────────────────────────── hand-written baseline ─────────────────────────────
// Only the hash and the comparisons, returning precomputed results (as the engine does).

const resultOf = (key: string, context: User): EvaluationResult => evaluate(set, key, context)!;
const sample = users[0]!;
const PLAIN = resultOf('plain', sample);
const ROLLOUT_IN = Object.freeze({ flagKey: 'rollout', value: true, variant: null, reason: 'percentage' as const, inRollout: true, flagVersion: 1 });
const ROLLOUT_OUT = Object.freeze({ flagKey: 'rollout', value: false, variant: null, reason: 'percentage' as const, inRollout: false, flagVersion: 1 });
const RULE = Object.freeze({ flagKey: 'targeted', value: 'rule', variant: null, reason: 'rule' as const, ruleId: 'targeted-rule', flagVersion: 1 });
const VARIANTS = ['A', 'B', 'C'].map((variant) => Object.freeze({ flagKey: 'targeted', value: variant.toLowerCase(), variant, reason: 'percentage' as const, inRollout: true, flagVersion: 1 }));
const rolloutSalt = prepareSalt('rollout');
const targetedSalt = prepareSalt('targeted');

const baseline = {
  plain: (_user: User): EvaluationResult => PLAIN,
  rollout: (user: User): EvaluationResult => (bucketWith(rolloutSalt, user.userId) < 25_000 ? ROLLOUT_IN : ROLLOUT_OUT),
  targeted(user: User): EvaluationResult {
    const c = user.country;
    if ((c === 'DE' || c === 'FR' || c === 'NL') && user.plan === 'pro' && user.email.endsWith('@example.com')) return RULE;
    const bucket = bucketWith(targetedSalt, user.userId);
    return bucket < 50_000 ? VARIANTS[0]! : bucket < 80_000 ? VARIANTS[1]! : VARIANTS[2]!;
  },
};

// The same, hashing the obvious way: murmurhash-js over the concatenated string (ids are ASCII).
const naiveBaseline = {
  plain: baseline.plain,
  rollout: (user: User): EvaluationResult => (murmur.murmur3(`rollout.${user.userId}`, 0) % 100_000 < 25_000 ? ROLLOUT_IN : ROLLOUT_OUT),
  targeted(user: User): EvaluationResult {
    const c = user.country;
    if ((c === 'DE' || c === 'FR' || c === 'NL') && user.plan === 'pro' && /@example\.com$/.test(user.email)) return RULE;
    const bucket = murmur.murmur3(`targeted.${user.userId}`, 0) % 100_000;
    return bucket < 50_000 ? VARIANTS[0]! : bucket < 80_000 ? VARIANTS[1]! : VARIANTS[2]!;
  },
};

// ───────────────────────────── unleash-client ─────────────────────────────
// Its in-process evaluator (the client class the SDK wraps) over an in-memory repository: no
// network, no metrics. Unleash has no regex operator: STR_ENDS_WITH stands in for the pattern.

const UnleashClient = (require('unleash-client/lib/client.js') as { default: new (repository: unknown, strategies: unknown[]) => UnleashEvaluator }).default;
const { defaultStrategies } = require('unleash-client/lib/strategy/index.js') as { defaultStrategies: unknown[] };
interface UnleashEvaluator {
  isEnabled(name: string, context: object, fallback: () => boolean): boolean;
  getVariant(name: string, context: object): { name: string; enabled: boolean };
}
const variantsOf = (weights: [string, number][]) => weights.map(([name, weight]) => ({ name, weight, stickiness: 'userId', weightType: 'variable' }));
const unleashToggles = new Map<string, unknown>(
  [
    { name: 'plain', enabled: true, strategies: [{ name: 'default', parameters: {}, constraints: [] }] },
    { name: 'rollout', enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: '25', stickiness: 'userId', groupId: 'rollout' }, constraints: [] }] },
    {
      name: 'targeted',
      enabled: true,
      strategies: [
        {
          name: 'flexibleRollout',
          parameters: { rollout: '100', stickiness: 'userId', groupId: 'targeted' },
          constraints: [
            { contextName: 'country', operator: 'IN', values: ['DE', 'FR', 'NL'] },
            { contextName: 'plan', operator: 'IN', values: ['pro'] },
            { contextName: 'email', operator: 'STR_ENDS_WITH', values: ['@example.com'] },
          ],
          variants: variantsOf([['rule', 1000]]),
        },
        { name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'userId', groupId: 'targeted' }, constraints: [], variants: variantsOf([['A', 500], ['B', 300], ['C', 200]]) },
      ],
    },
  ].map((toggle) => [toggle.name, toggle]),
);
class StaticRepository extends EventEmitter {
  getToggle(name: string) {
    return unleashToggles.get(name);
  }
  getToggles() {
    return [...unleashToggles.values()];
  }
  getTogglesWithSegmentData() {
    return this.getToggles();
  }
  getSegment() {
    return undefined;
  }
  stop() {}
  async start() {}
}
const unleash = new UnleashClient(new StaticRepository(), defaultStrategies);
const unleashUsers = users.map((u) => ({ userId: u.userId, properties: { country: u.country, plan: u.plan, email: u.email } }));
const unleashEval = {
  plain: (c: object) => unleash.isEnabled('plain', c, () => false),
  rollout: (c: object) => unleash.isEnabled('rollout', c, () => false),
  targeted: (c: object) => unleash.getVariant('targeted', c).name,
};

// ───────────────────────────── GrowthBook ─────────────────────────────
// The server-side multi-user client, initialised synchronously from an in-memory payload.

const growthbook = new GrowthBookClient().initSync({
  payload: {
    features: {
      plain: { defaultValue: true },
      rollout: { defaultValue: false, rules: [{ force: true, coverage: 0.25, hashAttribute: 'userId' }] },
      targeted: {
        defaultValue: 'none',
        rules: [
          { condition: { country: { $in: ['DE', 'FR', 'NL'] }, plan: 'pro', email: { $regex: '@example\\.com$' } }, force: 'rule' },
          { key: 'targeted', variations: ['a', 'b', 'c'], weights: [0.5, 0.3, 0.2], hashAttribute: 'userId' },
        ],
      },
    },
  },
});
const growthbookUsers = users.map((u) => ({ attributes: { ...u } }));
const growthbookEval = {
  plain: (c: object) => growthbook.evalFeature('plain', c),
  rollout: (c: object) => growthbook.evalFeature('rollout', c),
  targeted: (c: object) => growthbook.evalFeature('targeted', c),
};

// ───────────────────────────── flagd-core ─────────────────────────────
// flagd's evaluator with the flag JSON given to its in-memory store. JsonLogic has no regex:
// flagd's ends_with stands in for the pattern. fractional buckets by targetingKey.

const flagd = new FlagdCore();
flagd.setConfigurations(
  JSON.stringify({
    flags: {
      plain: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      rollout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 25], ['off', 75]] } },
      targeted: {
        state: 'ENABLED',
        variants: { rule: 'rule', A: 'a', B: 'b', C: 'c' },
        defaultVariant: 'A',
        targeting: {
          if: [
            { and: [{ in: [{ var: 'country' }, ['DE', 'FR', 'NL']] }, { '==': [{ var: 'plan' }, 'pro'] }, { ends_with: [{ var: 'email' }, '@example.com'] }] },
            'rule',
            { fractional: [['A', 50], ['B', 30], ['C', 20]] },
          ],
        },
      },
    },
  }),
);
const flagdUsers = users.map((u) => ({ targetingKey: u.userId, country: u.country, plan: u.plan, email: u.email }));
const flagdEval = {
  plain: (c: object) => flagd.resolveBooleanEvaluation('plain', false, c as never),
  rollout: (c: object) => flagd.resolveBooleanEvaluation('rollout', false, c as never),
  targeted: (c: object) => flagd.resolveStringEvaluation('targeted', 'none', c as never),
};

// ───────────────────────────── sanity: same answers where they must agree ─────────────────────────────

type FlagName = 'plain' | 'rollout' | 'targeted';
const FLAGS: FlagName[] = ['plain', 'rollout', 'targeted'];

function share(values: unknown[], predicate: (value: unknown) => boolean): string {
  return `${((values.filter(predicate).length / values.length) * 100).toFixed(1)}%`;
}
const ours = FLAGS.map((f) => users.map((u) => evaluate(set, f, u)!));
const expectedRule = users.filter((u) => ['DE', 'FR', 'NL'].includes(u.country) && u.plan === 'pro' && u.email.endsWith('@example.com')).length;
const sanity = {
  ours: [share(ours[0]!.map((r) => r.value), (v) => v === true), share(ours[1]!.map((r) => r.value), (v) => v === true), share(ours[2]!.map((r) => r.value), (v) => v === 'rule')],
  unleash: [share(unleashUsers.map(unleashEval.plain), (v) => v === true), share(unleashUsers.map(unleashEval.rollout), (v) => v === true), share(unleashUsers.map(unleashEval.targeted), (v) => v === 'rule')],
  growthbook: [
    share(growthbookUsers.map((c) => growthbookEval.plain(c).value), (v) => v === true),
    share(growthbookUsers.map((c) => growthbookEval.rollout(c).value), (v) => v === true),
    share(growthbookUsers.map((c) => growthbookEval.targeted(c).value), (v) => v === 'rule'),
  ],
  flagd: [
    share(flagdUsers.map((c) => flagdEval.plain(c).value), (v) => v === true),
    share(flagdUsers.map((c) => flagdEval.rollout(c).value), (v) => v === true),
    share(flagdUsers.map((c) => flagdEval.targeted(c).value), (v) => v === 'rule'),
  ],
  baseline: FLAGS.map((f, i) => share(users.map((u) => baseline[f](u).value), (v) => v === [true, true, 'rule'][i])),
};
for (const flag of FLAGS) {
  for (const u of users) {
    if (JSON.stringify(baseline[flag](u)) !== JSON.stringify(evaluate(set, flag, u))) throw new Error(`baseline and engine disagree on ${flag} for ${u.userId}`);
  }
}

// ───────────────────────────── timing ─────────────────────────────

async function nsPerOp<C>(contexts: readonly C[], fn: (context: C) => unknown): Promise<number> {
  let i = 0;
  const stats = await measure(() => {
    const context = contexts[i]!;
    if (++i === contexts.length) i = 0;
    do_not_optimize(fn(context));
  });
  return stats.avg;
}

const engines: { name: string; peer: boolean; run: Record<FlagName, () => Promise<number>> }[] = [
  {
    name: 'this engine',
    peer: false,
    run: { plain: () => nsPerOp(users, (u) => evaluate(set, 'plain', u)), rollout: () => nsPerOp(users, (u) => evaluate(set, 'rollout', u)), targeted: () => nsPerOp(users, (u) => evaluate(set, 'targeted', u)) },
  },
  {
    name: 'unleash-client',
    peer: true,
    run: { plain: () => nsPerOp(unleashUsers, unleashEval.plain), rollout: () => nsPerOp(unleashUsers, unleashEval.rollout), targeted: () => nsPerOp(unleashUsers, unleashEval.targeted) },
  },
  {
    name: '@growthbook/growthbook',
    peer: true,
    run: { plain: () => nsPerOp(growthbookUsers, growthbookEval.plain), rollout: () => nsPerOp(growthbookUsers, growthbookEval.rollout), targeted: () => nsPerOp(growthbookUsers, growthbookEval.targeted) },
  },
  {
    name: '@openfeature/flagd-core',
    peer: true,
    run: { plain: () => nsPerOp(flagdUsers, flagdEval.plain), rollout: () => nsPerOp(flagdUsers, flagdEval.rollout), targeted: () => nsPerOp(flagdUsers, flagdEval.targeted) },
  },
  {
    name: 'baseline',
    peer: false,
    run: { plain: () => nsPerOp(users, baseline.plain), rollout: () => nsPerOp(users, baseline.rollout), targeted: () => nsPerOp(users, baseline.targeted) },
  },
];

// For information: what the engine's choices are worth.
const extras: { name: string; flag: FlagName; run: () => Promise<number> }[] = [
  { name: 'baseline, murmurhash-js + concat + RegExp', flag: 'rollout', run: () => nsPerOp(users, naiveBaseline.rollout) },
  { name: 'baseline, murmurhash-js + concat + RegExp', flag: 'targeted', run: () => nsPerOp(users, naiveBaseline.targeted) },
  { name: 'this engine, pattern run by re2js', flag: 'targeted', run: () => nsPerOp(users, (u) => evaluate(set, 'targeted-re2', u)) },
  {
    name: 'this engine + a fresh result object',
    flag: 'rollout',
    run: () =>
      nsPerOp(users, (u) => {
        const r = evaluate(set, 'rollout', u)!;
        return { flagKey: r.flagKey, value: r.value, variant: r.variant, reason: r.reason, inRollout: r.inRollout, flagVersion: r.flagVersion };
      }),
  },
];

const fmt = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const pad = (text: string, width: number) => text.padEnd(width);
const padLeft = (text: string, width: number) => text.padStart(width);

console.log(`Node ${process.version}, ${USERS.toLocaleString('en')} users with UUID-shaped ids; ns/op = mitata's average per evaluation, median of ${Number(process.env.BENCH_ROUNDS ?? 3)} interleaved rounds\n`);
console.log('Sanity (share of users: plain on / rollout in / targeted by the rule):');
console.log(`  expected rule share ${((expectedRule / USERS) * 100).toFixed(1)}%, rollout ≈25%`);
for (const [name, shares] of Object.entries(sanity)) console.log(`  ${pad(name, 12)} ${shares.join(' / ')}`);
console.log();

// Rounds interleave the engines, and each figure is the median of its rounds: this machine is shared,
// and a single pass is at the mercy of whatever else runs (and of the order in which V8 optimizes).
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const samples: Record<string, Record<FlagName, number[]>> = {};
const extraSamples: number[][] = extras.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const engine of engines) {
    const times = (samples[engine.name] ??= { plain: [], rollout: [], targeted: [] });
    for (const flag of FLAGS) times[flag].push(await engine.run[flag]());
  }
  for (const [i, extra] of extras.entries()) extraSamples[i]!.push(await extra.run());
}
const measured: Record<string, Record<FlagName, number>> = {};
for (const [name, times] of Object.entries(samples)) {
  measured[name] = { plain: median(times.plain), rollout: median(times.rollout), targeted: median(times.targeted) };
}
const extraTimes = extras.map((extra, i) => ({ ...extra, ns: median(extraSamples[i]!) }));

console.log(`${pad('flag', 10)}${pad('engine', 44)}${padLeft('ns/op', 12)}${padLeft('vs fastest peer', 18)}${padLeft('vs baseline', 14)}`);
for (const flag of FLAGS) {
  const fastestPeer = Math.min(...engines.filter((e) => e.peer).map((e) => measured[e.name]![flag]));
  const base = measured.baseline![flag];
  for (const engine of engines) {
    const ns = measured[engine.name]![flag];
    console.log(`${pad(flag, 10)}${pad(engine.name, 44)}${padLeft(fmt(ns), 12)}${padLeft(ratio(ns, fastestPeer), 18)}${padLeft(ratio(ns, base), 14)}`);
  }
  for (const extra of extraTimes.filter((e) => e.flag === flag)) {
    console.log(`${pad(flag, 10)}${pad(`(${extra.name})`, 44)}${padLeft(fmt(extra.ns), 12)}${padLeft(ratio(extra.ns, fastestPeer), 18)}${padLeft(ratio(extra.ns, base), 14)}`);
  }
  console.log();
}

// ───────────────────────────── bulk: 1,000 flags for one context ─────────────────────────────

function manyFlags(count: number): Flag[] {
  return Array.from({ length: count }, (_, i) => {
    switch (i % 3) {
      case 0:
        return definition({ key: `bulk-plain-${i}`, type: 'boolean', defaultValue: true });
      case 1:
        return definition({ key: `bulk-rollout-${i}`, type: 'boolean', defaultValue: false, rollout: { percentage: (i * 7) % 100 } });
      default:
        return definition({ key: `bulk-targeted-${i}`, type: 'string', defaultValue: 'none', variants: { A: 'a', B: 'b', C: 'c' }, rules: [targetedRule('@example\\.com$')], rollout: { distribution: split } });
    }
  });
}

const bulkSet = compileFlagSet({ flags: manyFlags(1_000), segments: [] });
const bulkTimes: number[] = [];
for (let round = 0; round < ROUNDS; round++) bulkTimes.push(await nsPerOp(users, (u) => evaluateAll(bulkSet, u)));
const bulkNs = median(bulkTimes);
console.log(`bulk      evaluateAll, 1,000 flags (⅓ plain, ⅓ rollout, ⅓ targeted), one context: ${fmt(bulkNs)} (goal < 200 µs)`);

// ───────────────────────────── compile time and heap for 10,000 flags ─────────────────────────────

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const tenThousand = manyFlags(10_000);
// Warm the compiler once (JIT), then time a clean compile.
compileFlagSet({ flags: tenThousand.slice(0, 1_000), segments: [] });
gc();
const heapBefore = process.memoryUsage().heapUsed;
const started = performance.now();
const bigSet = compileFlagSet({ flags: tenThousand, segments: [] });
const compileMs = performance.now() - started;
gc();
const heapAfter = process.memoryUsage().heapUsed;
const changedStarted = performance.now();
const changed = bigSet.withFlag({ ...tenThousand[5]!, version: 2, description: 'changed' });
const withFlagMs = performance.now() - changedStarted;
do_not_optimize(changed);
console.log(
  `compile   10,000 flags: ${compileMs.toFixed(1)} ms, heap +${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB ` +
    `(${((heapAfter - heapBefore) / 10_000 / 1024).toFixed(2)} KiB per flag); withFlag on that set: ${withFlagMs.toFixed(2)} ms`,
);
do_not_optimize(bigSet);
