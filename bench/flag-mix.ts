// A realistic flag population for benchmarks: mostly plain switches and percentage rollouts, a
// fifth targeted by attribute rules, some by segments, a few multivariate splits and JSON configs.
import type { FlagDefinition, SegmentDefinition } from '@flagship/engine';
import { validateFlag, validateSegment } from '@flagship/engine/validate';
import { seededRandom, uuidFrom } from '../test/engine/support/seeded-random.ts';

const COUNTRIES = ['DE', 'FR', 'NL', 'US', 'GB', 'ES', 'IT', 'PL', 'SE', 'JP'];
const PLANS = ['free', 'pro', 'enterprise'];

export function benchSegments(count = 50): SegmentDefinition[] {
  return Array.from({ length: count }, (_, index) => {
    const result = validateSegment({
      key: `segment-${index}`,
      name: `Segment ${index}`,
      conditions: [
        { attribute: 'country', op: 'in', value: COUNTRIES.slice(index % 5, (index % 5) + 3) },
        { attribute: 'plan', op: 'equals', value: PLANS[index % 3] },
      ],
    });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    return result.value;
  });
}

export function benchFlags(count: number, segments = 50): FlagDefinition[] {
  return Array.from({ length: count }, (_, index) => {
    const key = `flag-${String(index).padStart(5, '0')}`;
    const kind = index % 20;
    let input: Record<string, unknown>;
    if (kind < 8) {
      input = { key, type: 'boolean', defaultValue: index % 3 === 0, tags: ['plain'] };
    } else if (kind < 13) {
      input = { key, type: 'boolean', defaultValue: false, rollout: { percentage: (index % 100) + 0.5 }, tags: ['rollout'] };
    } else if (kind < 17) {
      input = {
        key, type: 'boolean', defaultValue: false, tags: ['targeted'],
        rules: [
          {
            id: 'eu-pro',
            conditions: [
              { attribute: 'country', op: 'in', value: ['DE', 'FR', 'NL'] },
              { attribute: 'plan', op: 'equals', value: 'pro' },
              { attribute: 'email', op: 'regex', value: '@example\\.com$' },
            ],
            serve: { value: true },
          },
          { id: 'old-app', conditions: [{ attribute: 'appVersion', op: 'semver_lt', value: '2.0.0' }], serve: { value: false } },
        ],
        rollout: { percentage: 10 },
      };
    } else if (kind < 19) {
      input = {
        key, type: 'boolean', defaultValue: false, tags: ['segment'],
        rules: [{ id: 'in-segment', conditions: [{ segment: `segment-${index % segments}` }], serve: { value: true } }],
      };
    } else if (index % 40 === 19) {
      input = {
        key, type: 'string', defaultValue: 'control', tags: ['experiment'],
        variants: { control: 'control', a: 'layout-a', b: 'layout-b' },
        rollout: { distribution: [{ variant: 'control', weight: 50 }, { variant: 'a', weight: 30 }, { variant: 'b', weight: 20 }] },
      };
    } else {
      input = { key, type: 'json', defaultValue: { limit: 100, regions: ['eu', 'us'], retry: { attempts: 3 } }, tags: ['config'] };
    }
    const result = validateFlag(input);
    if (!result.ok) throw new Error(`${key}: ${JSON.stringify(result.issues)}`);
    return result.value;
  });
}

/** Contexts with UUID-shaped ids and the attributes the rules look at. */
export function benchContexts(count: number): Record<string, unknown>[] {
  const random = seededRandom(42);
  const next = () => Math.floor(random() * 4_294_967_296);
  return Array.from({ length: count }, () => ({
    userId: uuidFrom(random),
    country: COUNTRIES[next() % COUNTRIES.length],
    plan: PLANS[next() % PLANS.length],
    email: next() % 2 === 0 ? `u${next() % 1000}@example.com` : `u${next() % 1000}@other.org`,
    appVersion: `${next() % 3}.${next() % 10}.0`,
  }));
}
