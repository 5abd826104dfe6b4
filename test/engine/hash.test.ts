import { describe, expect, it } from '@jest/globals';
import murmur from 'murmurhash-js';
import { bucketFor, bucketWith, murmur3, prepareSalt } from '../../src/engine/hash.ts';
import { referenceBucket, referenceMurmur3 } from './support/reference-murmur3.ts';
import { seededRandom } from './support/seeded-random.ts';

const encoder = new TextEncoder();
const bytesAsString = (text: string) => String.fromCharCode(...encoder.encode(text));

/** Random strings mixing ASCII, 2- and 3-byte characters, astral pairs and lone surrogates. */
function randomText(random: () => number, maxLength: number): string {
  const length = Math.floor(random() * maxLength);
  let text = '';
  for (let i = 0; i < length; i++) {
    const pick = random();
    if (pick < 0.6) text += String.fromCharCode(0x20 + Math.floor(random() * 0x5f));
    else if (pick < 0.75) text += String.fromCharCode(0x80 + Math.floor(random() * 0x780));
    else if (pick < 0.88) text += String.fromCharCode(0x800 + Math.floor(random() * 0xd000));
    else if (pick < 0.97) text += String.fromCodePoint(0x10000 + Math.floor(random() * 0xfffff));
    else text += String.fromCharCode(0xd800 + Math.floor(random() * 0x800)); // lone surrogate
  }
  return text;
}

describe('murmur3 (engine) against the reference and murmurhash-js', () => {
  it('agrees on 2,000 random strings, including non-ASCII and lone surrogates (encoded as U+FFFD)', () => {
    const random = seededRandom(1);
    for (let i = 0; i < 2000; i++) {
      const text = randomText(random, 40);
      const expected = referenceMurmur3(encoder.encode(text));
      expect(murmur3(text)).toBe(expected);
      expect(murmur.murmur3(bytesAsString(text), 0)).toBe(expected);
    }
  });

  it('pins a few buckets in code too (the full list is conformance/hashing.json)', () => {
    expect(bucketFor('new-checkout', 'user-1')).toBe(8746);
    expect(bucketFor('flag', 'Jürgen')).toBe(referenceBucket('flag', 'Jürgen'));
    // Hashing the char codes instead of the UTF-8 bytes would give another bucket: the contract's trap.
    expect(murmur.murmur3('flag.Jürgen', 0) % 100_000).not.toBe(bucketFor('flag', 'Jürgen'));
  });
});

describe('bucketFor and prepared salts', () => {
  it('give the same bucket for every salt alignment (salt + "." of 1 to 12 bytes) and identity', () => {
    const random = seededRandom(2);
    for (let saltLength = 0; saltLength < 12; saltLength++) {
      for (let i = 0; i < 100; i++) {
        const salt = i % 3 === 0 ? 'k'.repeat(saltLength) : randomText(random, saltLength + 1);
        const identity = i % 2 === 0 ? `user-${i}-${'x'.repeat(i % 9)}` : randomText(random, 20);
        const expected = referenceBucket(salt, identity);
        expect(bucketFor(salt, identity)).toBe(expected);
        expect(bucketWith(prepareSalt(salt), identity)).toBe(expected);
      }
    }
  });

  it('is always within 0–99999', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 1000; i++) {
      const bucket = bucketFor(randomText(random, 10), randomText(random, 30));
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 100_000).toBe(true);
    }
  });
});
