import { describe, expect, it } from '@jest/globals';
import { checkAddress, parseAddress, parseOutboundAllowList, type AddressCategory } from '../../src/outbound/outbound-policy.ts';

const publicOnly = parseOutboundAllowList(undefined);

describe('the outbound policy', () => {
  it.each<[string, AddressCategory]>([
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['192.0.0.192', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['100::1', 'reserved'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:7f00:1::', 'loopback'],
  ])('refuses %s: %s', (address, category) => {
    expect(checkAddress(publicOnly, address)).toEqual({ allowed: false, category });
  });

  it.each(['8.8.8.8', '93.184.215.14', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])('allows the public address %s', (address) => {
    expect(checkAddress(publicOnly, address)).toEqual({ allowed: true });
  });

  it('allows what the allow-list names, IPv4-mapped forms included, and nothing more', () => {
    const policy = parseOutboundAllowList('127.0.0.0/8, ::1 10.1.0.0/16');
    expect(checkAddress(policy, '127.0.0.1')).toEqual({ allowed: true });
    expect(checkAddress(policy, '::ffff:127.0.0.1')).toEqual({ allowed: true });
    expect(checkAddress(policy, '::1')).toEqual({ allowed: true });
    expect(checkAddress(policy, '10.1.200.3')).toEqual({ allowed: true });
    expect(checkAddress(policy, '10.2.0.1')).toEqual({ allowed: false, category: 'private' });
    expect(checkAddress(policy, '192.168.0.1')).toEqual({ allowed: false, category: 'private' });
  });

  it('opens a metadata address only to an entry naming exactly it', () => {
    expect(checkAddress(parseOutboundAllowList('169.254.0.0/16'), '169.254.169.254')).toEqual({ allowed: false, category: 'metadata' });
    expect(checkAddress(parseOutboundAllowList('0.0.0.0/0'), '169.254.169.254')).toEqual({ allowed: false, category: 'metadata' });
    expect(checkAddress(parseOutboundAllowList('169.254.0.0/16'), '169.254.1.1')).toEqual({ allowed: true });
    expect(checkAddress(parseOutboundAllowList('169.254.169.254'), '169.254.169.254')).toEqual({ allowed: true });
  });

  it('reads "none" and an empty list as public addresses only, and refuses entries that are not ranges', () => {
    expect(parseOutboundAllowList('none').allow).toEqual([]);
    expect(parseOutboundAllowList('').allow).toEqual([]);
    expect(() => parseOutboundAllowList('localhost')).toThrow('"localhost" is not an IP address or a CIDR range');
    expect(() => parseOutboundAllowList('10.0.0.0/33')).toThrow('prefix length outside 0–32');
    expect(() => parseOutboundAllowList('::1/129')).toThrow('prefix length outside 0–128');
  });

  it('parses IPv6 in every spelling to the same bytes', () => {
    const expected = parseAddress('0:0:0:0:0:ffff:7f00:1');
    for (const spelling of ['::ffff:127.0.0.1', '[::ffff:7f00:1]', '0::ffff:127.0.0.1', '::FFFF:7F00:0001']) expect(parseAddress(spelling)).toEqual(expected);
    expect(parseAddress('not-an-address')).toBeUndefined();
  });
});
