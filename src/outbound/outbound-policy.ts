import { isIPv4, isIPv6 } from 'node:net';

/**
 * Why an address is not an ordinary public one. Anything in these ranges is refused as a target of
 * a request the service makes for a user (rollout gates, webhooks) unless the operator allows it.
 */
export type AddressCategory = 'unspecified' | 'loopback' | 'private' | 'link-local' | 'unique-local' | 'cgnat' | 'multicast' | 'metadata' | 'reserved';

/** An address as bytes (4 for IPv4, 16 for IPv6) and a prefix length: `10.0.0.0/8`, `::1/128`. */
export interface AddressRange {
  bytes: Uint8Array;
  prefix: number;
  /** As the operator wrote it, for messages. */
  text: string;
}

export interface OutboundPolicy {
  /** Ranges the operator allows although they are not public. */
  readonly allow: readonly AddressRange[];
}

export type AddressVerdict = { allowed: true } | { allowed: false; category: AddressCategory };

interface SpecialRange {
  range: AddressRange;
  category: AddressCategory;
}

function special(cidr: string, category: AddressCategory): SpecialRange {
  return { range: parseAddressRange(cidr), category };
}

/**
 * The non-public IPv4 ranges (RFC 6890 and the clouds' metadata services). The longest matching
 * prefix names the category, so a metadata address inside a link-local or CGNAT range is "metadata".
 */
const IPV4_SPECIAL: readonly SpecialRange[] = [
  special('0.0.0.0/8', 'unspecified'),
  special('10.0.0.0/8', 'private'),
  special('100.64.0.0/10', 'cgnat'),
  special('100.100.100.200/32', 'metadata'), // Alibaba Cloud
  special('127.0.0.0/8', 'loopback'),
  special('169.254.0.0/16', 'link-local'),
  special('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack, DigitalOcean
  special('169.254.170.2/32', 'metadata'), // AWS ECS task credentials
  special('172.16.0.0/12', 'private'),
  special('192.0.0.0/24', 'reserved'),
  special('192.0.0.192/32', 'metadata'), // Oracle Cloud
  special('192.0.2.0/24', 'reserved'),
  special('192.88.99.0/24', 'reserved'),
  special('192.168.0.0/16', 'private'),
  special('198.18.0.0/15', 'reserved'),
  special('198.51.100.0/24', 'reserved'),
  special('203.0.113.0/24', 'reserved'),
  special('224.0.0.0/4', 'multicast'),
  special('240.0.0.0/4', 'reserved'),
];

/** Named IPv6 ranges; everything outside global unicast (2000::/3) that is not named here is "reserved". */
const IPV6_SPECIAL: readonly SpecialRange[] = [
  special('::/128', 'unspecified'),
  special('::1/128', 'loopback'),
  special('fc00::/7', 'unique-local'),
  special('fd00:ec2::254/128', 'metadata'), // AWS over IPv6
  special('fe80::/10', 'link-local'),
  special('ff00::/8', 'multicast'),
  special('2001::/32', 'reserved'), // Teredo: an IPv4 address hides inside
  special('2001:2::/48', 'reserved'),
  special('2001:db8::/32', 'reserved'),
];

const GLOBAL_UNICAST_V6 = parseAddressRange('2000::/3');
/** IPv6 forms that carry an IPv4 address, which is then what is judged. */
const IPV4_MAPPED = parseAddressRange('::ffff:0:0/96');
const NAT64 = parseAddressRange('64:ff9b::/96');
const SIX_TO_FOUR = parseAddressRange('2002::/16');

/** Parses an IPv4 or IPv6 address (an IPv6 zone, `%eth0`, is dropped) into its bytes; undefined when it is neither. */
export function parseAddress(text: string): Uint8Array | undefined {
  const address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  let head = address;
  let tailV4: number[] = [];
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted?.[1]) {
    tailV4 = dotted[1].split('.').map(Number);
    head = `${address.slice(0, dotted.index)}:${((tailV4[0]! << 8) | tailV4[1]!).toString(16)}:${((tailV4[2]! << 8) | tailV4[3]!).toString(16)}`;
  }
  const [left = '', right] = head.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const leftGroups = groups(left);
  const rightGroups = right === undefined ? [] : groups(right);
  const zeros = right === undefined ? 0 : 8 - leftGroups.length - rightGroups.length;
  const all = [...leftGroups, ...Array<number>(zeros).fill(0), ...rightGroups];
  const bytes = new Uint8Array(16);
  all.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** `10.0.0.0/8`, `::1/128`, or a single address (a /32 or /128); throws a sentence for anything else. */
export function parseAddressRange(text: string): AddressRange {
  const trimmed = text.trim();
  const [address = '', prefixText] = trimmed.split('/');
  const bytes = parseAddress(address);
  if (!bytes) throw new Error(`"${trimmed}" is not an IP address or a CIDR range`);
  const bits = bytes.length * 8;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw new Error(`"${trimmed}" has a prefix length outside 0–${bits}`);
  return { bytes, prefix, text: trimmed };
}

function contains(range: AddressRange, bytes: Uint8Array): boolean {
  if (range.bytes.length !== bytes.length) return false;
  let remaining = range.prefix;
  for (let index = 0; remaining > 0; index += 1, remaining -= 8) {
    const mask = remaining >= 8 ? 0xff : (0xff << (8 - remaining)) & 0xff;
    if (((range.bytes[index] ?? 0) & mask) !== ((bytes[index] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address; undefined for any other. (The
 * deprecated IPv4-compatible form, `::a.b.c.d`, is outside global unicast and so refused as reserved.)
 */
function embeddedIPv4(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length !== 16) return undefined;
  if (contains(IPV4_MAPPED, bytes) || contains(NAT64, bytes)) return bytes.slice(12);
  if (contains(SIX_TO_FOUR, bytes)) return bytes.slice(2, 6);
  return undefined;
}

/** The category of a non-public address, or undefined for an ordinary public one. */
export function categorize(bytes: Uint8Array): AddressCategory | undefined {
  const inner = embeddedIPv4(bytes);
  if (inner) return categorize(inner);
  const table = bytes.length === 4 ? IPV4_SPECIAL : IPV6_SPECIAL;
  let best: SpecialRange | undefined;
  for (const entry of table) {
    if (contains(entry.range, bytes) && (!best || entry.range.prefix > best.range.prefix)) best = entry;
  }
  if (best) return best.category;
  if (bytes.length === 16 && !contains(GLOBAL_UNICAST_V6, bytes)) return 'reserved';
  return undefined;
}

/** The policy of an allow-list as `FLAGS_OUTBOUND_ALLOW` spells it: ranges separated by commas or spaces; `none` or nothing for none. */
export function parseOutboundAllowList(text: string | undefined): OutboundPolicy {
  const entries = (text ?? '').split(/[\s,]+/).filter((entry) => entry !== '' && entry.toLowerCase() !== 'none');
  return { allow: entries.map(parseAddressRange) };
}

/** Loopback only: what the embedded default (`npm start`) allows unless told otherwise, so a local Prometheus works. */
export const LOOPBACK_ALLOW_LIST = '127.0.0.0/8,::1';

/**
 * Whether the service may connect to this address. Public addresses are allowed; any other only when
 * an allow-list range holds it (or the IPv4 address it carries). A cloud-metadata address is allowed
 * only by an entry naming exactly it, so allowing a whole private or link-local range never opens
 * the credentials endpoint by accident.
 */
export function checkAddress(policy: OutboundPolicy, address: string | Uint8Array): AddressVerdict {
  const bytes = typeof address === 'string' ? parseAddress(address) : address;
  if (!bytes) return { allowed: false, category: 'reserved' };
  const category = categorize(bytes);
  if (category === undefined) return { allowed: true };
  const candidates = [bytes, embeddedIPv4(bytes)].filter((candidate): candidate is Uint8Array => candidate !== undefined);
  const allowed = policy.allow.some((range) =>
    candidates.some((candidate) => contains(range, candidate) && (category !== 'metadata' || range.prefix === candidate.length * 8)),
  );
  return allowed ? { allowed: true } : { allowed: false, category };
}

const CATEGORY_TEXT: Record<AddressCategory, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address',
  'unique-local': 'a unique-local address',
  cgnat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  metadata: 'a cloud metadata address',
  reserved: 'a reserved address',
};

export function describeCategory(category: AddressCategory): string {
  return CATEGORY_TEXT[category];
}

export function describePolicy(policy: OutboundPolicy): string {
  return policy.allow.length ? policy.allow.map((range) => range.text).join(', ') : 'public addresses only';
}
