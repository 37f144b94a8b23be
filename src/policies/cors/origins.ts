/**
 * Origin rules, compiled once: exact origins in a Set, wildcard subdomains as a scheme prefix and a
 * `.domain[:port]` suffix, so a request costs a Set lookup or two string comparisons and a scan of
 * the labels in between — no regex, no allocation (an origin is RFC 6454 §6.2 `scheme://host[:port]`,
 * serialised lower-case by browsers).
 */

export interface OriginRules {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly wildcards: readonly { readonly prefix: string; readonly suffix: string }[];
}

const HOST = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$|^\[[0-9a-f:.]+\]$/;

/** Why an `origins` entry is not acceptable, or undefined when it is. */
export function originProblem(entry: string): string | undefined {
  if (entry === '*' || entry === 'null') return undefined;
  const m = /^(https?):\/\/(\*\.)?([^/:]+|\[[^\]]+\])(:(\d{1,5}))?$/.exec(entry.toLowerCase());
  if (m === null || !HOST.test(m[3]!) || (m[5] !== undefined && Number(m[5]) > 65535)) {
    return `expected an origin like https://app.example.com, https://*.example.com, "null" or "*", got ${JSON.stringify(entry)} (no path, no trailing "/")`;
  }
  if (m[2] !== undefined && m[3]!.startsWith('[')) return `a wildcard needs a domain, got ${JSON.stringify(entry)}`;
  const defaultPort = m[1] === 'https' ? '443' : '80';
  if (m[5] === defaultPort) return `browsers send ${m[1]}://… without :${defaultPort}: write ${JSON.stringify(entry.replace(`:${defaultPort}`, ''))}`;
  return undefined;
}

export function compileOrigins(entries: readonly string[]): OriginRules {
  const exact = new Set<string>();
  const wildcards: { prefix: string; suffix: string }[] = [];
  let any = false;
  for (const raw of entries) {
    const e = raw === 'null' ? raw : raw.toLowerCase();
    if (e === '*') any = true;
    else if (e.includes('://*.')) {
      const at = e.indexOf('*');
      wildcards.push({ prefix: e.slice(0, at), suffix: e.slice(at + 1) });
    } else exact.add(e);
  }
  return { any, exact, wildcards };
}

/** One or more DNS labels (`a`, `a.b`): letters, digits, `-`, dots between labels. */
function isLabels(s: string, from: number, to: number): boolean {
  if (to <= from || s.charCodeAt(from) === 46 || s.charCodeAt(to - 1) === 46) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || (c === 46 && s.charCodeAt(i - 1) !== 46);
    if (!ok) return false;
  }
  return true;
}

export function originAllowed(rules: OriginRules, origin: string): boolean {
  if (rules.any || rules.exact.has(origin)) return true;
  const w = rules.wildcards;
  for (let i = 0; i < w.length; i++) {
    const { prefix, suffix } = w[i]!;
    if (origin.length > prefix.length + suffix.length && origin.startsWith(prefix) && origin.endsWith(suffix) && isLabels(origin, prefix.length, origin.length - suffix.length)) {
      return true;
    }
  }
  return false;
}

/** True when a Vary field value already names Origin or is `*` (tokens are case-insensitive, RFC 9110 §12.5.5). */
function varyCovers(value: string): boolean {
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i < value.length && value.charCodeAt(i) !== 44) continue;
    let a = start;
    let b = i;
    while (a < b && (value.charCodeAt(a) === 32 || value.charCodeAt(a) === 9)) a++;
    while (b > a && (value.charCodeAt(b - 1) === 32 || value.charCodeAt(b - 1) === 9)) b--;
    if ((b - a === 1 && value.charCodeAt(a) === 42) || (b - a === 6 && value.slice(a, b).toLowerCase() === 'origin')) return true;
    start = i + 1;
  }
  return false;
}

/** The Vary field with Origin merged in (one field, or the upstream's lines with Origin added to the last). */
export function varyWithOrigin(existing: string | string[] | number | undefined): string | string[] {
  if (existing === undefined || existing === '') return 'Origin';
  if (Array.isArray(existing)) {
    for (const v of existing) if (varyCovers(v)) return existing;
    return [...existing, 'Origin'];
  }
  const s = String(existing);
  return varyCovers(s) ? s : `${s}, Origin`;
}
