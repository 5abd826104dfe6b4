/**
 * Stable bucketing, as the contract pins it:
 * `bucket = murmur3_x86_32(utf8(salt + "." + identity), seed 0) mod 100000`.
 *
 * This is MurmurHash3 x86_32 written against the bytes directly, so that it equals `murmurhash-js`
 * fed a string whose char codes are those UTF-8 bytes (the golden-value tests check both against a
 * third, independent implementation). It is written here rather than calling `murmurhash-js`
 * because two things make it 2–3× faster on the hot path:
 * - the salt is hashed once, at compile time ({@link prepareSalt}): murmur3 consumes its input in
 *   4-byte blocks from the left, so the state after `salt + "."` can be kept and only the identity's
 *   bytes are mixed per evaluation, with no string concatenation;
 * - an ASCII identity is read four chars per block with no allocation; anything else is encoded to
 *   UTF-8 on the fly, still without allocating.
 */

/** Buckets per rollout: a percentage with three decimals maps to a whole number of buckets. */
export const BUCKETS = 100_000;

// MurmurHash3 x86_32 constants, from Austin Appleby's reference implementation.
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The murmur3 state after `salt + "."`: mixed blocks, the 0–3 pending bytes, and the byte count. */
export interface PreparedSalt {
  readonly salt: string;
  readonly h: number;
  /** Pending bytes, first byte lowest. */
  readonly pending: number;
  /** Bits of `pending` in use: 0, 8, 16 or 24. */
  readonly shift: number;
  readonly length: number;
}

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Mixes the pending tail, the length, and finalizes (fmix32); returns the unsigned 32-bit hash. */
function finish(h: number, pending: number, shift: number, length: number): number {
  if (shift !== 0) {
    let k = Math.imul(pending, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Finishes the hash of a prepared prefix followed by an ASCII `text`, four chars per block. Returns
 * -1 as soon as a char is not ASCII, and the caller takes the UTF-8 path instead.
 */
function hashAscii(prefix: PreparedSalt, text: string): number {
  let h = prefix.h;
  let carry = prefix.pending;
  const s = prefix.shift;
  const n = text.length;
  const blocksEnd = n & ~3;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) return -1;
    const word = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    // The prefix may leave 1–3 bytes pending: the block is those plus the word's low bytes, and the
    // word's high bytes carry over (a shift by 32 would be a shift by 0 in JavaScript, hence s === 0).
    const k = carry | (word << s);
    carry = s === 0 ? 0 : word >>> (32 - s);
    h = mixBlock(h, k);
  }
  let pending = carry;
  let shift = s;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return -1;
    pending |= c << shift;
    shift += 8;
    if (shift === 32) {
      h = mixBlock(h, pending);
      pending = 0;
      shift = 0;
    }
  }
  return finish(h, pending, shift, prefix.length + n);
}

/**
 * Continues a hash state with the UTF-8 bytes of `text`, encoded on the fly. Lone surrogates become
 * U+FFFD, as `TextEncoder` does, so every JavaScript string has one well-defined byte sequence.
 */
function continueUtf8(prefix: PreparedSalt, text: string): PreparedSalt {
  let h = prefix.h;
  let pending = prefix.pending;
  let shift = prefix.shift;
  let length = prefix.length;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    let bytes: number;
    let count: number;
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        bytes =
          (0xf0 | (cp >> 18)) |
          ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
          ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
          ((0x80 | (cp & 0x3f)) << 24);
        count = 4;
      } else {
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        bytes = (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
        count = 3;
      }
    }
    for (let j = 0; j < count; j++) {
      pending |= ((bytes >>> (j << 3)) & 0xff) << shift;
      length++;
      shift += 8;
      if (shift === 32) {
        h = mixBlock(h, pending);
        pending = 0;
        shift = 0;
      }
    }
  }
  // The salt field is filled by prepareSalt; intermediate states do not need it.
  return { salt: '', h, pending, shift, length };
}

const EMPTY: PreparedSalt = { salt: '', h: 0, pending: 0, shift: 0, length: 0 };

/** Hashes `salt + "."` once, so that {@link bucketWith} only has to mix the identity. */
export function prepareSalt(salt: string): PreparedSalt {
  const state = continueUtf8(continueUtf8(EMPTY, salt), '.');
  return { ...state, salt };
}

/**
 * The bucket of `identity` for a prepared salt: the same number as `bucketFor(prepared.salt,
 * identity)`, without hashing the salt again. Allocation-free for ASCII identities.
 */
export function bucketWith(prepared: PreparedSalt, identity: string): number {
  const hash = hashAscii(prepared, identity);
  if (hash >= 0) return hash % BUCKETS;
  const state = continueUtf8(prepared, identity);
  return finish(state.h, state.pending, state.shift, state.length) % BUCKETS;
}

// One-entry memo: callers of bucketFor usually ask for many identities under one salt.
let lastPrepared: PreparedSalt = prepareSalt('');

/**
 * The bucket (0–99999) of an identity for a salt:
 * `murmur3_x86_32(utf8(salt + "." + identity), seed 0) mod 100000`. The salt is the flag key, or
 * `flagKey + "." + ruleId` for a rule's distribution.
 */
export function bucketFor(salt: string, identity: string): number {
  if (lastPrepared.salt !== salt) lastPrepared = prepareSalt(salt);
  return bucketWith(lastPrepared, identity);
}

/** MurmurHash3 x86_32 (seed 0) of the UTF-8 bytes of `text`, as an unsigned 32-bit integer. */
export function murmur3(text: string): number {
  const state = continueUtf8(EMPTY, text);
  return finish(state.h, state.pending, state.shift, state.length);
}
