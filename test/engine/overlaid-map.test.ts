import { describe, expect, it } from '@jest/globals';
import { OverlaidMap } from '../../src/engine/overlaid-map.ts';

interface Box {
  n: number;
}

/** A small deterministic generator, so a failing sequence can be replayed from its seed. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

function expectSame(overlaid: OverlaidMap<string, Box>, model: Map<string, Box>): void {
  expect(overlaid.size).toBe(model.size);
  expect([...overlaid]).toEqual([...model]);
  expect([...overlaid.keys()]).toEqual([...model.keys()]);
  expect([...overlaid.values()]).toEqual([...model.values()]);
  for (const key of ['k0', 'k7', 'k149', 'k199', 'absent']) {
    expect(overlaid.get(key)).toBe(model.get(key));
    expect(overlaid.has(key)).toBe(model.has(key));
  }
}

describe('OverlaidMap', () => {
  it('reads and iterates like a Map copied and changed, through thousands of changes and many merges', () => {
    for (const seed of [1, 2, 3]) {
      const random = generator(seed);
      const start = Array.from({ length: 150 }, (_, index) => [`k${index}`, { n: index }] as const);
      let overlaid = OverlaidMap.from<string, Box>(start);
      let model = new Map<string, Box>(start);
      const older: [OverlaidMap<string, Box>, Map<string, Box>][] = [];
      for (let step = 0; step < 2_000; step += 1) {
        const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
          const key = `k${Math.floor(random() * 200)}`;
          return [key, random() < 0.3 ? undefined : { n: step }] as const;
        });
        const next = new Map(model);
        for (const [key, value] of batch) {
          if (value === undefined) next.delete(key);
          else next.set(key, value);
        }
        overlaid = overlaid.with(batch);
        model = next;
        if (step % 97 === 0) older.push([overlaid, model]);
        expectSame(overlaid, model);
      }
      // Every map derived from stays as it was.
      for (const [map, itsModel] of older) expectSame(map, itsModel);
    }
  });

  it('keeps a replaced key in its place and puts a key deleted and set again last', () => {
    const map = OverlaidMap.from<string, Box>([['a', { n: 1 }], ['b', { n: 2 }], ['c', { n: 3 }]]);
    expect([...map.with([['b', { n: 20 }]]).keys()]).toEqual(['a', 'b', 'c']);
    expect([...map.with([['b', undefined]]).with([['b', { n: 21 }]]).keys()]).toEqual(['a', 'c', 'b']);
    expect([...map.with([['d', { n: 4 }], ['a', undefined]]).entries()]).toEqual([['b', { n: 2 }], ['c', { n: 3 }], ['d', { n: 4 }]]);
    expect(map.with([['absent', undefined]]).size).toBe(3);
  });
});
