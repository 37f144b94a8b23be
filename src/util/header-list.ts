/**
 * Flat header lists ([name, value, name, value, …], names lower-case) are what the gateway hands to
 * undici and to res.writeHead. One helper removes entries from them in place.
 */
export function removeHeaders(list: string[], names: ReadonlySet<string> | string): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    const name = list[r]!;
    if (typeof names === 'string' ? name === names : names.has(name)) continue;
    list[w++] = name;
    list[w++] = list[r + 1]!;
  }
  if (w !== list.length) list.length = w;
}
