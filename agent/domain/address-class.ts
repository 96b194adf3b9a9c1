// What kind of network an IP address is on, for the media fetcher's redirect rule: a
// public CDN may not redirect the box to its own loopback or to link-local addresses
// (the 4G modem's admin page, a cloud metadata service at 169.254.169.254). Pure.
//
// Private ranges (RFC 1918, CGNAT, IPv6 ULA) are classified but not forbidden: a
// commune or a province may run a cache on its own network, and a public URL that
// redirects there is a legitimate set-up.
import { BlockList, isIP } from 'node:net';

export type AddressClass = 'public' | 'private' | 'loopback' | 'link-local' | 'unspecified';

const ranges: [AddressClass, BlockList][] = [];
function range(cls: AddressClass, subnets: [string, number, 'ipv4' | 'ipv6'][]): void {
  const bl = new BlockList();
  for (const [net, prefix, type] of subnets) bl.addSubnet(net, prefix, type);
  ranges.push([cls, bl]);
}
// IPv4 also in its IPv4-mapped IPv6 form (::ffff:127.0.0.1 is 127.0.0.1).
const v4 = (net: string, prefix: number): [string, number, 'ipv4' | 'ipv6'][] => {
  const [a, b, c, d] = net.split('.').map(Number) as [number, number, number, number];
  const mapped = `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  return [
    [net, prefix, 'ipv4'],
    [mapped, 96 + prefix, 'ipv6'],
  ];
};
range('unspecified', [...v4('0.0.0.0', 8), ['::', 128, 'ipv6']]);
range('loopback', [...v4('127.0.0.0', 8), ['::1', 128, 'ipv6']]);
range('link-local', [...v4('169.254.0.0', 16), ['fe80::', 10, 'ipv6']]);
range('private', [
  ...v4('10.0.0.0', 8),
  ...v4('172.16.0.0', 12),
  ...v4('192.168.0.0', 16),
  ...v4('100.64.0.0', 10),
  ['fc00::', 7, 'ipv6'],
]);

/** The class of an IP address (v4, v6, with or without [brackets]); a non-IP is 'public'. */
export function classifyAddress(address: string): AddressClass {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const v = isIP(ip);
  if (v === 0) return 'public';
  const type = v === 4 ? 'ipv4' : 'ipv6';
  for (const [cls, bl] of ranges) if (bl.check(ip, type)) return cls;
  return 'public';
}

/** Addresses a redirect that started on a public host may not lead to. */
export const FORBIDDEN_AFTER_PUBLIC: ReadonlySet<AddressClass> = new Set(['loopback', 'link-local', 'unspecified']);
