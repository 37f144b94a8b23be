import { BlockList, SocketAddress, isIPv4, isIPv6 } from 'node:net';

/**
 * One text per address, so every spelling of a client lands in one rate-limit bucket and one log
 * value: IPv4 as is; IPv6 in RFC 5952 form (lower case, no leading zeros, `::` for the longest zero
 * run), and an IPv4-mapped IPv6 address (`::FFFF:1.2.3.4`, `0:0:0:0:0:ffff:102:304`) as its IPv4
 * address. Anything else is returned unchanged (callers check isIP).
 */
export function canonicalIp(address: string): string {
  // The usual peers: Node already reports IPv6 in canonical form, and IPv4 on a dual-stack socket as ::ffff:a.b.c.d.
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  if (!isIPv6(address)) return address;
  const text = new SocketAddress({ address, family: 'ipv6' }).address;
  return text.startsWith('::ffff:') && isIPv4(text.slice(7)) ? text.slice(7) : text;
}

/**
 * One X-Forwarded-For entry as an address: trimmed, with a port (`1.2.3.4:5555`, `[::1]:80`) or
 * brackets (`[::1]`) taken off — proxies such as Azure's and some CDNs append the client port —
 * then canonicalIp(). Not an address: returned as is, so isIP() fails on it.
 */
export function forwardedHopAddress(entry: string): string {
  let a = entry.trim();
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']');
    if (end === -1) return a;
    const rest = a.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return a;
    a = a.slice(1, end);
  } else {
    const colon = a.indexOf(':');
    if (colon !== -1 && colon === a.lastIndexOf(':') && /^\d{1,5}$/.test(a.slice(colon + 1)) && isIPv4(a.slice(0, colon))) a = a.slice(0, colon);
  }
  return canonicalIp(a);
}

/** The /`bits` network of a canonical IPv6 address, e.g. `2001:db8:1:2::/64` (one client under `ipv6Prefix`). */
export function ipv6Network(address: string, bits: number): string {
  if (bits >= 128) return address;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const masked = groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return ((parseInt(g, 16) & (0xffff << (16 - keep))) & 0xffff).toString(16);
  });
  return `${new SocketAddress({ address: masked.join(':'), family: 'ipv6' }).address}/${bits}`;
}

export interface TrustedProxies {
  readonly empty: boolean;
  has(address: string): boolean;
}

/** Compile `trustedProxies` CIDRs (or single addresses) once into a node:net BlockList. */
/** CIDRs (or single addresses), validated as `cidr` by the schema, as one node:net BlockList. */
export function cidrBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

export function compileTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = cidrBlockList(cidrs);
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
