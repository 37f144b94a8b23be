/**
 * The cache-miss path: checks on the unverified header and claims that pick the issuer and key (and
 * refuse the classic tricks before any crypto), then fast-jwt verifies signature and claims with a
 * verifier bound to one key and its algorithms. The result is what the cache keeps.
 */
import { createDecoder } from 'fast-jwt';
import type { Principal } from '../../pipeline/context.js';
import { claimHeaderValue, encodeClaimText } from './claim-header.js';
import type { KeySource } from './jwks.js';
import type { KeyRecord } from './keys.js';

/** Why a request was refused: a small fixed set (a metrics label, `gateway_auth_failures_total{reason}`). */
export const AUTH_FAILURE_REASONS = [
  'missing', 'too_large', 'malformed', 'alg_not_allowed', 'forbidden_header', 'unknown_crit', 'wrong_issuer', 'unknown_kid',
  'keys_unavailable', 'bad_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'missing_claim', 'insufficient_scope',
] as const;
export type AuthFailure = (typeof AUTH_FAILURE_REASONS)[number];

export interface IssuerRuntime {
  readonly name: string;
  readonly issuer: string;
  readonly algorithms: ReadonlySet<string>;
  readonly source: KeySource;
}

/** A verified token, shared by every request that presents it again. */
export interface Verified {
  readonly issuer: string;
  readonly principal: Principal;
  readonly scopes: ReadonlySet<string>;
  /** Upstream headers from forwardClaims, flat [name, value, …]. */
  readonly forward: readonly string[];
  /** ms since the epoch; never later than exp. */
  readonly expiresAt: number;
  readonly key: KeyRecord;
}

export interface VerifyContext {
  readonly byIss: ReadonlyMap<string, IssuerRuntime>;
  readonly maxTokenSize: number;
  readonly clockToleranceMs: number;
  /** [claim, header] pairs. */
  readonly forwardClaims: readonly (readonly [string, string])[];
}

/** Without exp (requireExp: false) a verified token is still re-verified this often. */
const MAX_CACHE_AGE_MS = 5 * 60_000;
/** Headers that carry or point at a key: keys come from config, never from the token (CVE-2018-0114, jku/x5u SSRF). */
const KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'];

const decode = createDecoder({ complete: true }) as (t: string) => { header: Record<string, unknown>; payload: Record<string, unknown> };

function tokenErrorReason(err: unknown): AuthFailure {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'FAST_JWT_EXPIRED':
      return 'expired';
    case 'FAST_JWT_INACTIVE':
      return 'not_yet_valid';
    case 'FAST_JWT_INVALID_SIGNATURE':
    case 'FAST_JWT_MISSING_SIGNATURE':
      return 'bad_signature';
    case 'FAST_JWT_INVALID_ALGORITHM':
      return 'alg_not_allowed';
    case 'FAST_JWT_INVALID_CRIT_HEADER':
      return 'unknown_crit';
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM':
      return 'missing_claim';
    case 'FAST_JWT_INVALID_CLAIM_VALUE':
      if (/\baud\b/.test(e.message ?? '')) return 'wrong_audience';
      if (/\biss\b/.test(e.message ?? '')) return 'wrong_issuer';
      return 'malformed';
    default:
      return 'malformed';
  }
}

export function scopesOf(payload: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === 'string') for (const s of v.split(' ')) if (s !== '') out.add(s);
  };
  add(payload['scope']);
  const scp = payload['scp'];
  if (Array.isArray(scp)) scp.forEach(add);
  else add(scp);
  return [...out];
}

function accept(ctx: VerifyContext, issuer: IssuerRuntime, key: KeyRecord, payload: Record<string, unknown>, now: number): Verified {
  const scopes = scopesOf(payload);
  const forward: string[] = [];
  for (const [claim, header] of ctx.forwardClaims) {
    // Scopes are split on spaces, so joined with spaces they encode like any other string claim.
    const value = claim === 'scope' ? (scopes.length > 0 ? encodeClaimText(scopes.join(' ')) : undefined) : claimHeaderValue(payload[claim]);
    if (value !== undefined) forward.push(header, value);
  }
  const exp = payload['exp'];
  const expiresAt = Math.min(typeof exp === 'number' ? exp * 1000 : Infinity, now + MAX_CACHE_AGE_MS);
  const sub = payload['sub'];
  return {
    issuer: issuer.name,
    principal: Object.freeze({
      subject: typeof sub === 'string' ? sub : undefined,
      issuer: issuer.name,
      scopes: Object.freeze(scopes),
      claims: Object.freeze(payload),
    }),
    scopes: new Set(scopes),
    forward,
    expiresAt,
    key,
  };
}

function finish(ctx: VerifyContext, issuer: IssuerRuntime, key: KeyRecord | undefined, alg: string, token: string): Verified | AuthFailure {
  if (key === undefined) return issuer.source.ready ? 'unknown_kid' : 'keys_unavailable';
  if (!key.algorithms.has(alg)) return 'alg_not_allowed';
  let payload: Record<string, unknown>;
  try {
    payload = key.verify(token);
  } catch (err) {
    return tokenErrorReason(err);
  }
  const now = Date.now();
  // fast-jwt checks exp and nbf; an iat in the future is as suspicious as an early nbf (RFC 7519 §4.1.6).
  const iat = payload['iat'];
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'malformed';
    if (iat * 1000 > now + ctx.clockToleranceMs) return 'not_yet_valid';
  }
  return accept(ctx, issuer, key, payload, now);
}

/** Verify a token not in the cache. Synchronous unless an unknown kid waits for a JWKS refetch. */
export function verifyToken(ctx: VerifyContext, token: string): Verified | AuthFailure | Promise<Verified | AuthFailure> {
  if (token.length > ctx.maxTokenSize) return 'too_large';
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = decode(token));
  } catch {
    return 'malformed';
  }
  const alg = header['alg'];
  if (typeof alg !== 'string') return 'malformed';
  if (alg.toLowerCase() === 'none') return 'alg_not_allowed';
  for (const h of KEY_HEADERS) if (h in header) return 'forbidden_header';
  // We understand no extension, so any crit is refused (RFC 7515 §4.1.11).
  if ('crit' in header) return 'unknown_crit';
  const kid = header['kid'];
  if (kid !== undefined && typeof kid !== 'string') return 'malformed';
  const iss = payload['iss'];
  const issuer = typeof iss === 'string' ? ctx.byIss.get(iss) : undefined;
  if (issuer === undefined) return typeof iss === 'string' ? 'wrong_issuer' : 'missing_claim';
  if (!issuer.algorithms.has(alg)) return 'alg_not_allowed';
  const key = issuer.source.find(kid, alg);
  if (key !== undefined) return finish(ctx, issuer, key, alg, token);
  // A kid we do not know may be a freshly rotated key: refetch (at most once per cooldown, shared).
  const refetch = kid !== undefined || !issuer.source.ready ? issuer.source.refetch() : undefined;
  if (refetch === undefined) return finish(ctx, issuer, undefined, alg, token);
  return refetch.then(() => finish(ctx, issuer, issuer.source.find(kid, alg), alg, token));
}
