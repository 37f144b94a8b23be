/**
 * The one encoding of a claim as an upstream header value. It must be injective — two different
 * claims never give the same header (a subject `é` and a subject that is literally `%C3%A9` must
 * stay two users) — and always a valid field value (no CR, LF, NUL, no raw non-ASCII: RFC 9110 §5.5).
 *
 * Printable ASCII passes as is, except `%`; `%`, every other character and a leading or trailing
 * space (which a parser would trim as OWS) become %XX of their UTF-8 bytes, like RFC 3986 / RFC 8187
 * percent-encoding. So a backend gets the claim back with one percent-decode (decodeURIComponent),
 * and a value without `%` or special characters reads as sent. Array elements are joined with `,`
 * and a `,` inside an element is encoded too.
 */

const HEX = '0123456789ABCDEF';

function pct(out: string[], byte: number): void {
  out.push('%', HEX[byte >> 4]!, HEX[byte & 15]!);
}

/** Whether `s` can go out as is (the common case: one scan, no allocation). */
function plain(s: string, comma: boolean): boolean {
  const n = s.length;
  if (n > 0 && (s.charCodeAt(0) === 32 || s.charCodeAt(n - 1) === 32)) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25 || (comma && c === 0x2c)) return false;
  }
  return true;
}

/** Percent-encode what plain() refuses. Lone surrogates (valid in a JSON string) are encoded as their WTF-8 bytes, so they too stay distinct. */
export function encodeClaimText(s: string, comma = false): string {
  if (plain(s, comma)) return s;
  const out: string[] = [];
  const last = s.length - 1;
  for (let i = 0; i <= last; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x25 && !(comma && c === 0x2c) && !(c === 32 && (i === 0 || i === last))) {
      out.push(s[i]!);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i < last) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) pct(out, c);
    else if (c < 0x800) {
      pct(out, 0xc0 | (c >> 6));
      pct(out, 0x80 | (c & 63));
    } else if (c < 0x10000) {
      pct(out, 0xe0 | (c >> 12));
      pct(out, 0x80 | ((c >> 6) & 63));
      pct(out, 0x80 | (c & 63));
    } else {
      pct(out, 0xf0 | (c >> 18));
      pct(out, 0x80 | ((c >> 12) & 63));
      pct(out, 0x80 | ((c >> 6) & 63));
      pct(out, 0x80 | (c & 63));
    }
  }
  return out.join('');
}

/** A claim value as a header value; undefined when the claim is absent or null. */
export function claimHeaderValue(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return encodeClaimText(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) return v.map((x) => encodeClaimText(String(x), true)).join(',');
  return encodeClaimText(JSON.stringify(v));
}
