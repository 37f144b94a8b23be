/**
 * Flat header lists ([name, value, name, value, …], names lower-case) are what the gateway hands to
 * undici and to res.writeHead. One helper removes entries from them in place.
 */
export function removeHeaders(list: string[], names: ReadonlySet<string> | string): void {
  const one = typeof names === 'string';
  // Most calls find nothing (a `set` of a field the upstream did not send): look before moving
  // anything, so those calls write no element (~60 ns less per response with five sets).
  let r = 0;
  while (r < list.length && !(one ? list[r] === names : names.has(list[r]!))) r += 2;
  if (r >= list.length) return;
  let w = r;
  for (r += 2; r < list.length; r += 2) {
    const name = list[r]!;
    if (one ? name === names : names.has(name)) continue;
    list[w++] = name;
    list[w++] = list[r + 1]!;
  }
  list.length = w;
}
