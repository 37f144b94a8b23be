import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Strip the IPv4-mapped IPv6 prefix so `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
export function canonicalIp(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export interface TrustedProxies {
  readonly empty: boolean;
  has(address: string): boolean;
}

/** Compile `trustedProxies` CIDRs (or single addresses) once into a node:net BlockList. */
export function compileTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  const empty = cidrs.length === 0;
  return {
    empty,
    has(address: string): boolean {
      if (empty) return false;
      const ip = canonicalIp(address);
      if (isIPv4(ip)) return list.check(ip, 'ipv4');
      if (isIPv6(ip)) return list.check(ip, 'ipv6');
      return false;
    },
  };
}

export function isCidr(entry: string): boolean {
  const [addr, bits, extra] = entry.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (v4 ? 32 : 128);
}
