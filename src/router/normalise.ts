/**
 * Path safety. The request target is normalised once, before matching, and the same normalised path
 * is what the upstream receives, so no route can be reached by a path another route would claim:
 * - RFC 3986 §2.3/§6.2.2.2: percent-encoded unreserved characters are decoded (`%2e` → `.`, `%41` → `A`);
 *   other escapes are kept, with upper-case hex.
 * - `;` in a segment (matrix parameters) is refused, or with `server.paths.matrixParameters: strip`
 *   cut off with the rest of its segment, before anything else looks at the segments: Tomcat and
 *   Spring drop it, so `/admin;x/secret` is `/admin/secret` and `/x/..;/admin` is `/admin` to them
 *   (CVE-2020-1957, the Tomcat "..;" traversal).
 * - RFC 3986 §5.2.4: dot segments are removed after that decoding (`/a/%2e%2e/b` → `/b`).
 * - Empty segments are collapsed (`//` → `/`), as nginx does (merge_slashes).
 * - A segment ending in `.` or a space (`%20`) is refused unless `server.paths.trailingDotOrSpace: allow`:
 *   Windows file APIs, IIS and some Java containers drop them, so `/admin./secret` is `/admin/secret` there.
 * - Encoded `/` (%2F) and `\` (%5C), raw `\`, NUL and other control characters are rejected: backends
 *   disagree on them (CVE-2021-22112, CVE-2019-0232, the Kong/Envoy %2F advisories).
 */

/** `server.paths` (src/router/schema.ts). */
export interface PathRules {
  readonly matrixParameters: 'refuse' | 'strip';
  readonly trailingDotOrSpace: 'refuse' | 'allow';
}

const STRICT: PathRules = { matrixParameters: 'refuse', trailingDotOrSpace: 'refuse' };

export interface NormalisedTarget {
  /** The normalised path, always starting with `/`. */
  path: string;
  /** The query string including its leading `?`, or ''. Forwarded unchanged. */
  query: string;
  /** The authority of an absolute-form target (`GET http://host/x`), lower-cased, else undefined. */
  authority: string | undefined;
}

export type NormaliseFailure = 'GW_ERR_PATH_INVALID' | 'GW_ERR_BAD_REQUEST';

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** True for characters RFC 3986 allows raw in a path segment (pchar minus `%`), plus `/`. */
function isPathChar(c: number): boolean {
  return isUnreserved(c) || c === 47 || c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61 || c === 58 || c === 64;
}

/**
 * Matrix parameters, then RFC 3986 §5.2.4 remove_dot_segments with empty segments collapsed, then the
 * trailing dot/space rule, on an already decoded path.
 */
function cleanSegments(path: string, rules: PathRules): string | NormaliseFailure {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    let seg = parts[i]!;
    const semi = seg.indexOf(';');
    if (semi !== -1) {
      if (rules.matrixParameters === 'refuse') return 'GW_ERR_PATH_INVALID';
      seg = parts[i] = seg.slice(0, semi);
    }
    if (seg === '..') out.pop();
    else if (seg !== '.' && seg !== '') out.push(seg);
  }
  if (rules.trailingDotOrSpace === 'refuse') {
    for (const seg of out) if (seg.endsWith('.') || seg.endsWith('%20')) return 'GW_ERR_PATH_INVALID';
  }
  const last = parts[parts.length - 1];
  const trailing = parts.length > 1 && (last === '' || last === '.' || last === '..');
  const joined = '/' + out.join('/');
  return trailing && out.length > 0 ? joined + '/' : joined;
}

function normalisePath(raw: string, rules: PathRules): string | NormaliseFailure {
  // Fast path: only plain path characters, no `;`, no `//`, no segment ending in `.` (which covers
  // the dot segments): already normal.
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (!isPathChar(c) || c === 59) {
      plain = false;
      break;
    }
    if (c === 47 && i > 0 && raw.charCodeAt(i - 1) === 47) {
      plain = false;
      break;
    }
    if (c === 46 && (i + 1 === raw.length || raw.charCodeAt(i + 1) === 47)) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;

  let decoded = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37) {
      const h = hexValue(raw.charCodeAt(i + 1));
      const l = hexValue(raw.charCodeAt(i + 2));
      if (h < 0 || l < 0) return 'GW_ERR_PATH_INVALID';
      const v = h * 16 + l;
      if (v === 0x2f || v === 0x5c || v < 0x20 || v === 0x7f) return 'GW_ERR_PATH_INVALID';
      decoded += isUnreserved(v) ? String.fromCharCode(v) : '%' + HEX[h] + HEX[l];
      i += 2;
    } else if (c === 92 || c < 0x20 || c === 0x7f || c > 0x7e) {
      return 'GW_ERR_PATH_INVALID';
    } else if (c === 35) {
      return 'GW_ERR_BAD_REQUEST'; // a fragment is never sent in a request target (RFC 9112 §3.2)
    } else {
      decoded += raw[i];
    }
  }
  return cleanSegments(decoded, rules);
}

/** Split and normalise a request target (origin-form or absolute-form). */
export function normaliseTarget(url: string, rules: PathRules = STRICT): NormalisedTarget | NormaliseFailure {
  let rest = url;
  let authority: string | undefined;
  if (rest.charCodeAt(0) !== 47) {
    // absolute-form (RFC 9112 §3.2.2): matched by its path only; its authority never picks a backend.
    const m = /^https?:\/\/([^/?#]*)/i.exec(rest);
    if (!m || m[1] === '' || m[1]!.includes('@')) return 'GW_ERR_BAD_REQUEST';
    authority = m[1]!.toLowerCase();
    rest = rest.slice(m[0].length);
    if (rest === '' || rest.charCodeAt(0) === 63) rest = '/' + rest;
    if (rest.charCodeAt(0) !== 47) return 'GW_ERR_BAD_REQUEST';
  }
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 35) return 'GW_ERR_BAD_REQUEST';
  }
  const path = normalisePath(rawPath, rules);
  if (path === 'GW_ERR_PATH_INVALID' || path === 'GW_ERR_BAD_REQUEST') return path;
  return { path, query, authority };
}
