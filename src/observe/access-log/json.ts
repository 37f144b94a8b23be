/**
 * JSON for the access line without JSON.stringify's generic walk: the fields have known types, and
 * most strings (ids, route names, IPs, methods, codes) need no escaping, which one scan proves.
 */

/** A JSON string literal; the fast path when nothing needs escaping (no ", \, control or surrogate). */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** A JSON string literal, or null. */
export function jsonStringOrNull(s: string | null | undefined): string {
  return s === null || s === undefined ? 'null' : jsonString(s);
}

/** A finite number as JSON (NaN/Infinity, which JSON cannot hold, become null as with JSON.stringify). */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

const PAD = ['000', '00', '0', ''];

/**
 * Milliseconds rounded to the microsecond, as a JSON number: integer arithmetic and integer to
 * string, because a double to shortest-string conversion was the access line's most expensive step.
 * Same value as JSON.stringify(Math.round(ms * 1000) / 1000) once parsed.
 */
export function jsonMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'null';
  const us = Math.round(ms * 1000);
  if (us < 0 || us > 0x3fffffff) return String(us / 1000);
  const whole = (us / 1000) | 0;
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  const f = String(frac);
  return `${whole}.${PAD[f.length]}${f}`;
}
