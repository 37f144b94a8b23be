/**
 * The access line written straight into the log destination's batch buffer, as UTF-8 bytes.
 *
 * Why not a string: building a ~420-byte line from ~40 pieces makes a rope that V8 must flatten
 * before it can be encoded, and the flattening (~0.9 µs a line measured in isolation, more in
 * place) cost more than everything else the access log does; the rope, the flat copy and the
 * number strings were also ~1.5 KB of garbage per request. Here the fixed parts are encoded once,
 * numbers are written digit by digit, and strings that need no escaping are copied character by
 * character: no allocation per line.
 *
 * Strings the fast path cannot copy as they are (anything outside printable ASCII, `"` or `\`)
 * make the writer give up on the line (it returns -1) and the caller writes it through the string
 * path (json.ts), which escapes and encodes it properly. Client-controlled values (path, User-Agent,
 * consumer) rarely need it.
 */

/** Encode a fixed fragment once. */
export function bytesOf(s: string): Uint8Array {
  return Buffer.from(s, 'utf8');
}

/**
 * Copy printable ASCII other than `"` and `\` (a JSON string body needing no escapes); -1 when
 * anything else is found (the caller falls back to the string path).
 */
export function putPlain(b: Uint8Array, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126 || c === 34 || c === 92) return -1;
    b[p + i] = c;
  }
  return p + n;
}

/** Copy a pre-encoded fragment. */
export function putBytes(b: Uint8Array, p: number, f: Uint8Array): number {
  const n = f.length;
  if (n > 32) {
    b.set(f, p);
    return p + n;
  }
  for (let i = 0; i < n; i++) b[p + i] = f[i]!;
  return p + n;
}

/** A non-negative integer below 2^53 in decimal; anything else (NaN, negatives, fractions) as JSON would write it. */
export function putUint(b: Uint8Array, p: number, n: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return putPlain(b, p, Number.isFinite(n) ? String(n) : 'null');
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let i = p + digits - 1; i >= p; i--) {
    const q = Math.floor(x / 10);
    b[i] = 48 + (x - q * 10);
    x = q;
  }
  return p + digits;
}

/** Milliseconds rounded to the microsecond (the same value as json.ts jsonMs once parsed). */
export function putMs(b: Uint8Array, p: number, ms: number): number {
  if (!Number.isFinite(ms)) return putPlain(b, p, 'null');
  const us = Math.round(ms * 1000);
  if (us < 0) return putPlain(b, p, String(us / 1000));
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  p = putUint(b, p, whole);
  if (frac === 0) return p;
  b[p] = 46; // .
  b[p + 1] = 48 + Math.floor(frac / 100);
  b[p + 2] = 48 + (Math.floor(frac / 10) % 10);
  b[p + 3] = 48 + (frac % 10);
  return p + 4;
}
