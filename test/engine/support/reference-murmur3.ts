/**
 * MurmurHash3 x86_32, written straight from Austin Appleby's algorithm over a byte array, with
 * BigInt arithmetic so that no 32-bit multiplication trick is shared with the engine's version or
 * with murmurhash-js. Slow and obvious on purpose: it is the independent reference that golden
 * values are checked against.
 */
const MASK = 0xffffffffn;

function mul32(a: bigint, b: bigint): bigint {
  return (a * b) & MASK;
}

function rotl32(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (32n - r))) & MASK;
}

function fmix32(h: bigint): bigint {
  h ^= h >> 16n;
  h = mul32(h, 0x85ebca6bn);
  h ^= h >> 13n;
  h = mul32(h, 0xc2b2ae35n);
  h ^= h >> 16n;
  return h;
}

export function referenceMurmur3(bytes: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51n;
  const c2 = 0x1b873593n;
  let h1 = BigInt(seed) & MASK;
  const blocks = Math.floor(bytes.length / 4);
  for (let i = 0; i < blocks; i++) {
    // Little-endian 32-bit block.
    let k1 =
      BigInt(bytes[4 * i]!) | (BigInt(bytes[4 * i + 1]!) << 8n) | (BigInt(bytes[4 * i + 2]!) << 16n) | (BigInt(bytes[4 * i + 3]!) << 24n);
    k1 = mul32(k1, c1);
    k1 = rotl32(k1, 15n);
    k1 = mul32(k1, c2);
    h1 ^= k1;
    h1 = rotl32(h1, 13n);
    h1 = (mul32(h1, 5n) + 0xe6546b64n) & MASK;
  }
  const tail = blocks * 4;
  let k1 = 0n;
  const rest = bytes.length & 3;
  if (rest >= 3) k1 ^= BigInt(bytes[tail + 2]!) << 16n;
  if (rest >= 2) k1 ^= BigInt(bytes[tail + 1]!) << 8n;
  if (rest >= 1) {
    k1 ^= BigInt(bytes[tail]!);
    k1 = mul32(k1, c1);
    k1 = rotl32(k1, 15n);
    k1 = mul32(k1, c2);
    h1 ^= k1;
  }
  h1 ^= BigInt(bytes.length);
  return Number(fmix32(h1));
}

const encoder = new TextEncoder();

/** The contract's bucket, computed with the reference hash over TextEncoder's UTF-8 bytes. */
export function referenceBucket(salt: string, identity: string): number {
  return referenceMurmur3(encoder.encode(`${salt}.${identity}`)) % 100_000;
}

export function utf8Hex(text: string): string {
  return [...encoder.encode(text)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
