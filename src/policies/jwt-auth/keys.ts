/**
 * Verification keys, imported once: an HMAC secret, a PEM public key, or the keys of a JWKS. Each
 * becomes a KeyRecord holding a fast-jwt verifier bound to that key and to the algorithms both the
 * issuer allows and the key type supports, so a token can never choose its own key or algorithm
 * (key confusion: an HS256 token checked against an RSA public key used as an HMAC secret).
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import type { Algorithm } from 'fast-jwt';
import { HS_ALGORITHMS, type IssuerConfig } from './schema.js';

export interface VerifyRules {
  readonly issuer: string;
  readonly audiences: readonly string[] | undefined;
  readonly clockToleranceMs: number;
  readonly requireExp: boolean;
}

export interface KeyRecord {
  readonly kid: string | undefined;
  readonly algorithms: ReadonlySet<string>;
  /** Verify signature and registered claims; throws a fast-jwt TokenError, returns the payload. */
  readonly verify: (token: string) => Record<string, unknown>;
  /** Identifies the key material, so a refresh can keep records (and their cache entries) for unchanged keys. */
  readonly fingerprint: string;
  /** Cleared when a rotation or reload removes the key: cache entries it verified stop being served. */
  alive: boolean;
}

const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS: Record<string, string> = { prime256v1: 'ES256', 'P-256': 'ES256', secp384r1: 'ES384', 'P-384': 'ES384', secp521r1: 'ES512', 'P-521': 'ES512' };
/** NIST SP 800-131A: RSA keys below 2048 bits are not acceptable for signatures. */
export const MIN_RSA_BITS = 2048;

/** The algorithms a public key can verify, or a reason it cannot be used. */
export function algorithmsForKey(key: KeyObject): string[] | string {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    if ((details.modulusLength ?? 0) < MIN_RSA_BITS) return `RSA key of ${details.modulusLength} bits; at least ${MIN_RSA_BITS} are required`;
    return RSA_ALGS;
  }
  if (type === 'ec') {
    const alg = EC_ALGS[details.namedCurve ?? ''];
    return alg ? [alg] : `unsupported EC curve ${details.namedCurve}`;
  }
  if (type === 'ed25519' || type === 'ed448') return ['EdDSA'];
  return `unsupported key type ${type}`;
}

function makeVerifier(key: string, algorithms: string[], rules: VerifyRules): KeyRecord['verify'] {
  const required = ['iss'];
  if (rules.requireExp) required.push('exp');
  if (rules.audiences) required.push('aud');
  return createVerifier({
    key,
    algorithms: algorithms as Algorithm[],
    allowedIss: rules.issuer,
    ...(rules.audiences ? { allowedAud: [...rules.audiences] } : {}),
    clockTolerance: rules.clockToleranceMs,
    requiredClaims: required,
    // No crit extension is understood: any crit header is refused (RFC 7515 §4.1.11).
    allowedCritHeaders: [],
    cache: false,
  }) as KeyRecord['verify'];
}

export function secretKey(secret: string, issuer: IssuerConfig, rules: VerifyRules): KeyRecord {
  const algs = issuer.algorithms.filter((a) => (HS_ALGORITHMS as readonly string[]).includes(a));
  return { kid: undefined, algorithms: new Set(algs), verify: makeVerifier(secret, algs, rules), fingerprint: 'secret', alive: true };
}

/** A PEM public key (SPKI, PKCS#1 or an X.509 certificate). Throws with a reason when unusable. */
export function pemKey(pem: string, issuer: IssuerConfig, rules: VerifyRules, kid?: string): KeyRecord {
  const key = createPublicKey(pem);
  return publicKeyRecord(key, issuer.algorithms, rules, kid, undefined);
}

function publicKeyRecord(key: KeyObject, allowed: readonly string[], rules: VerifyRules, kid: string | undefined, jwkAlg: string | undefined): KeyRecord {
  const supported = algorithmsForKey(key);
  if (typeof supported === 'string') throw new Error(supported);
  const algs = supported.filter((a) => allowed.includes(a) && (jwkAlg === undefined || a === jwkAlg));
  if (algs.length === 0) {
    throw new Error(`key${kid ? ` "${kid}"` : ''} supports ${supported.join(', ')}${jwkAlg ? ` (alg ${jwkAlg})` : ''}, none of which this issuer allows (${allowed.join(', ')})`);
  }
  const spki = key.export({ type: 'spki', format: 'pem' }).toString();
  return { kid, algorithms: new Set(algs), verify: makeVerifier(spki, algs, rules), fingerprint: `${algs.join(',')}|${spki}`, alive: true };
}

export interface ImportedJwks {
  readonly keys: KeyRecord[];
  /** Keys left out, with why (logged; the rest of the set still serves). */
  readonly skipped: string[];
}

/**
 * Import the usable signing keys of a JWKS document. Symmetric (`oct`) keys are never taken from a
 * JWKS, keys marked for encryption are skipped, and a key's own `alg` narrows what it may verify.
 */
export function importJwks(doc: unknown, allowed: readonly string[], rules: VerifyRules, maxKeys = 100): ImportedJwks {
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('not a JWKS: expected {"keys": [...]}');
  const keys: KeyRecord[] = [];
  const skipped: string[] = [];
  const kids = new Set<string | undefined>();
  for (const [i, raw] of list.slice(0, maxKeys).entries()) {
    const jwk = raw as JsonWebKey & { kid?: unknown; use?: unknown; alg?: unknown };
    const name = typeof jwk?.kid === 'string' ? `"${jwk.kid}"` : `#${i}`;
    if (jwk === null || typeof jwk !== 'object') {
      skipped.push(`key ${name}: not an object`);
      continue;
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      skipped.push(`key ${name}: use is ${String(jwk.use)}, not sig`);
      continue;
    }
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') {
      skipped.push(`key ${name}: kty ${String(jwk.kty)} is not accepted from a JWKS`);
      continue;
    }
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
    if (kids.has(kid)) {
      skipped.push(`key ${name}: duplicate kid`);
      continue;
    }
    try {
      // Only public members: a JWKS that leaked a private key still yields just the public half.
      const { kty, n, e, crv, x, y } = jwk;
      const pub = Object.fromEntries(Object.entries({ kty, n, e, crv, x, y }).filter(([, v]) => v !== undefined)) as JsonWebKey;
      const key = createPublicKey({ key: pub, format: 'jwk' });
      keys.push(publicKeyRecord(key, allowed, rules, kid, typeof jwk.alg === 'string' ? jwk.alg : undefined));
      kids.add(kid);
    } catch (err) {
      skipped.push(`key ${name}: ${(err as Error).message}`);
    }
  }
  if (list.length > maxKeys) skipped.push(`${list.length - maxKeys} keys beyond the first ${maxKeys} ignored`);
  return { keys, skipped };
}
