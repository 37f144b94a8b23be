/**
 * JWT authentication as a route policy (phase `auth`). Keys are imported once per snapshot in
 * setup(); a verified token is cached until its exp, so a repeated token costs one Map lookup and the
 * hook stays synchronous. Refusals are RFC 6750 challenges with a stable GW_ERR_AUTH_* code.
 */
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import type { Config } from '../../config/schema.js';
import { ConfigError, GatewayError } from '../../errors.js';
import type { RequestContext } from '../../pipeline/context.js';
import { definePolicy, type GatewayServices, type HookResult, type RouteHooks } from '../../pipeline/policy.js';
import { parseDuration, parseSize } from '../../util/units.js';
import { TwoGenerationCache } from './cache.js';
import { checkJwtConfig } from './config-checks.js';
import { RemoteJwks, staticSource, type KeySource } from './jwks.js';
import { importJwks, pemKey, secretKey, type KeyRecord, type VerifyRules } from './keys.js';
import { JwtSchema, RouteAuthSchema, type IssuerConfig, type JwtConfig, type RouteAuthConfig } from './schema.js';
import { verifyToken, type AuthFailure, type IssuerRuntime, type Verified, type VerifyContext } from './verify.js';

export interface JwtShared extends VerifyContext {
  readonly config: JwtConfig;
  readonly issuers: readonly IssuerRuntime[];
  readonly cache: TwoGenerationCache<Verified>;
  readonly agent: Agent;
  /** Lower-case forwardClaims header names, removed from every client request. */
  readonly stripped: readonly string[];
  /** Issuer config (JSON) each runtime was built from, to carry unchanged ones over a reload. */
  readonly built: ReadonlyMap<string, { json: string; runtime: IssuerRuntime }>;
}

const DESCRIPTIONS: Record<Exclude<AuthFailure, 'missing' | 'insufficient_scope' | 'keys_unavailable'>, string> = {
  too_large: 'The token is too large.',
  malformed: 'The token is malformed.',
  alg_not_allowed: 'The token algorithm is not accepted.',
  forbidden_header: 'The token header carries a key or key location, which is not accepted.',
  unknown_crit: 'The token has a critical header extension that is not understood.',
  wrong_issuer: 'The token issuer is not accepted here.',
  unknown_kid: 'The token signing key is not known.',
  bad_signature: 'The token signature is invalid.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  wrong_audience: 'The token audience is not accepted.',
  missing_claim: 'The token lacks a required claim.',
};

/** The refusal for one reason on one route (built once: a flood of bad tokens allocates no errors). */
function refusal(reason: AuthFailure, realm: string, scopes: readonly string[]): GatewayError {
  const scope = scopes.length > 0 ? `, scope="${scopes.join(' ')}"` : '';
  switch (reason) {
    case 'missing':
      // RFC 6750 §3.1: no error attribute when the request simply carried no credentials.
      return new GatewayError('GW_ERR_AUTH_MISSING', undefined, { 'www-authenticate': `Bearer realm="${realm}"${scope}` });
    case 'insufficient_scope':
      return new GatewayError('GW_ERR_AUTH_SCOPE', `The token lacks a required scope (needs: ${scopes.join(' ')}).`, {
        'www-authenticate': `Bearer realm="${realm}", error="insufficient_scope", error_description="The token lacks a required scope"${scope}`,
      });
    case 'keys_unavailable':
      return new GatewayError('GW_ERR_AUTH_KEYS_UNAVAILABLE', undefined, { 'retry-after': '5' });
    default: {
      const description = DESCRIPTIONS[reason];
      return new GatewayError(reason === 'expired' ? 'GW_ERR_AUTH_EXPIRED' : 'GW_ERR_AUTH_INVALID', description, {
        'www-authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${description.slice(0, -1)}"`,
      });
    }
  }
}

const BEARER = 'bearer';
function isBearer(v: string): boolean {
  for (let i = 0; i < 6; i++) if ((v.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return false;
  return true;
}

/** bearerToken(): the request carries no Authorization header. */
export const NO_CREDENTIALS = 0;
/** bearerToken(): a well-formed credential of another scheme (`Basic …`). */
export const OTHER_SCHEME = 1;
/** bearerToken(): an Authorization value that is no credential at all (`Bearer<TAB>t`, NBSP, a comma, empty). */
export const MALFORMED_CREDENTIALS = 2;
export type NotBearer = typeof NO_CREDENTIALS | typeof OTHER_SCHEME | typeof MALFORMED_CREDENTIALS;

/** RFC 9110 §5.6.2 tchar, for the auth-scheme. */
function isTchar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e
  );
}

/**
 * The bearer token from the upstream header list (names are lower-case there), '' for a Bearer
 * header with no token. Otherwise why there is none: no header, another scheme, or a value that is
 * not `auth-scheme [ 1*SP credentials ]` (RFC 9110 §11.4). Only SP separates scheme and token: a
 * `Bearer<TAB>token`, `Bearer<NBSP>token` or `Bearer,token` is malformed, never "no token" — a
 * backend with a laxer parser would read the token the gateway did not check. The scheme is
 * case-insensitive (RFC 9110 §11.1).
 */
export function bearerToken(headers: readonly string[] | undefined): string | NotBearer {
  if (headers === undefined) return NO_CREDENTIALS;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'authorization') continue;
    const v = headers[i + 1]!;
    let end = 0;
    while (end < v.length && isTchar(v.charCodeAt(end))) end++;
    if (end === 0 || (end < v.length && v.charCodeAt(end) !== 32)) return MALFORMED_CREDENTIALS;
    // "bearer" in any case, compared in place (| 0x20 folds ASCII upper to lower case): no lower-cased copy per request.
    if (end !== 6 || !isBearer(v)) return OTHER_SCHEME;
    if (v.length === 6) return '';
    let j = 7;
    while (j < v.length && v.charCodeAt(j) === 32) j++;
    return v.slice(j);
  }
  return NO_CREDENTIALS;
}

function rulesFor(jwt: JwtConfig, iss: IssuerConfig): VerifyRules {
  return { issuer: iss.issuer, audiences: iss.audiences, clockToleranceMs: parseDuration(jwt.clockTolerance)!, requireExp: jwt.requireExp };
}

async function readKeyFile(file: string, at: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${at}: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
}

async function buildSource(jwt: JwtConfig, iss: IssuerConfig, at: string, agent: Agent, services: GatewayServices): Promise<KeySource> {
  const rules = rulesFor(jwt, iss);
  if (iss.secret !== undefined) return staticSource([secretKey(iss.secret, iss, rules)]);
  if (iss.publicKeyFile !== undefined) {
    const pem = await readKeyFile(iss.publicKeyFile, `${at}.publicKeyFile`);
    try {
      return staticSource([pemKey(pem, iss, rules)]);
    } catch (err) {
      throw new ConfigError([`${at}.publicKeyFile: ${(err as Error).message}`]);
    }
  }
  if (iss.jwksFile !== undefined) {
    const text = await readKeyFile(iss.jwksFile, `${at}.jwksFile`);
    let imported;
    try {
      imported = importJwks(JSON.parse(text), iss.algorithms, rules);
    } catch (err) {
      throw new ConfigError([`${at}.jwksFile: ${(err as Error).message}`]);
    }
    if (imported.keys.length === 0) throw new ConfigError([`${at}.jwksFile: no usable signing key (${imported.skipped.join('; ') || 'empty'})`]);
    if (imported.skipped.length > 0) services.logger.warn({ event: 'jwks.keys_skipped', issuer: iss.name, skipped: imported.skipped }, 'JWKS keys skipped');
    return staticSource(imported.keys);
  }
  const remote = new RemoteJwks({
    issuerName: iss.name,
    uri: iss.jwksUri!,
    algorithms: iss.algorithms,
    rules,
    timeoutMs: parseDuration(jwt.jwks.timeout)!,
    refreshMs: parseDuration(jwt.jwks.refreshInterval)!,
    cooldownMs: parseDuration(jwt.jwks.cooldown)!,
    dispatcher: agent,
    services,
  });
  await remote.start();
  return remote;
}

function sameKeys(a: KeySource, b: KeySource): boolean {
  return a.records.length === b.records.length && a.records.every((r, i) => r.fingerprint === b.records[i]!.fingerprint);
}

/** What a reload may keep: remote key sets (no refetch) and the token cache, when the rules they depend on are unchanged. */
function globalRulesJson(jwt: JwtConfig): string {
  const { issuers: _issuers, ...rest } = jwt;
  return JSON.stringify(rest);
}

async function setup(config: Config, services: GatewayServices, previous: JwtShared | undefined): Promise<JwtShared | undefined> {
  const jwt = config.jwt;
  if (jwt === undefined) return undefined;
  const sameRules = previous !== undefined && globalRulesJson(previous.config) === globalRulesJson(jwt);
  const agent = previous?.agent ?? new Agent({ connect: { timeout: parseDuration(jwt.jwks.timeout)! } });
  const built = new Map<string, { json: string; runtime: IssuerRuntime }>();
  const issuers: IssuerRuntime[] = [];
  try {
    for (const [i, iss] of jwt.issuers.entries()) {
      const json = JSON.stringify(iss);
      const prev = sameRules ? previous.built.get(iss.name) : undefined;
      const same = prev?.json === json ? prev.runtime.source : undefined;
      // A remote key set is carried over as is (its JWKS state and refresh timer); files are re-read
      // on every reload (that is how file keys rotate), and when their keys did not change the old
      // source is kept, so tokens it verified stay cached.
      let source = same instanceof RemoteJwks ? same : await buildSource(jwt, iss, `jwt.issuers[${i}]`, agent, services);
      if (same !== undefined && source !== same && sameKeys(same, source)) source = same;
      const runtime: IssuerRuntime = { name: iss.name, issuer: iss.issuer, algorithms: new Set(iss.algorithms), source };
      issuers.push(runtime);
      built.set(iss.name, { json, runtime });
    }
  } catch (err) {
    // A failed reload keeps the old snapshot: stop what this attempt started and the old one does not use.
    const old = new Set(previous?.issuers.map((r) => r.source) ?? []);
    for (const r of issuers) if (!old.has(r.source)) r.source.stop();
    if (agent !== previous?.agent) await agent.close();
    throw err;
  }
  const forwardClaims = Object.entries(jwt.forwardClaims).map(([claim, header]) => [claim, header.toLowerCase()] as const);
  return {
    config: jwt,
    issuers,
    byIss: new Map(issuers.map((r) => [r.issuer, r])),
    maxTokenSize: parseSize(jwt.maxTokenSize)!,
    clockToleranceMs: parseDuration(jwt.clockTolerance)!,
    forwardClaims,
    // Cached entries stay valid only while their key is alive and the rules they were checked against hold.
    cache: sameRules && previous.cache.capacity === jwt.cacheSize ? previous.cache : new TwoGenerationCache<Verified>(jwt.cacheSize),
    agent,
    stripped: forwardClaims.map(([, h]) => h),
    built,
  };
}

async function dispose(shared: JwtShared, next: JwtShared | undefined): Promise<void> {
  const kept = new Set<KeySource>(next?.issuers.map((r) => r.source) ?? []);
  const keptKeys = new Set<KeyRecord>(next?.issuers.flatMap((r) => r.source.records) ?? []);
  for (const r of shared.issuers) {
    if (kept.has(r.source)) continue;
    r.source.stop();
    // A key that is gone from the next snapshot must not keep vouching for cached tokens.
    for (const k of r.source.records) if (!keptKeys.has(k)) k.alive = false;
  }
  if (next?.cache !== shared.cache) shared.cache.clear();
  if (next?.agent !== shared.agent) await shared.agent.close();
}

function createHooks(auth: RouteAuthConfig, shared: JwtShared | undefined): RouteHooks | undefined {
  if (auth === 'none' || shared === undefined) return undefined;
  const required = auth.jwt === 'required';
  const passOtherSchemes = auth.otherSchemes === 'forward';
  const scopes = auth.scopes ?? [];
  const allowed = auth.issuers ? new Set(auth.issuers) : undefined;
  const strip = shared.config.stripAuthorization;
  const realm = shared.config.realm;
  const cache = shared.cache;
  const refusals = new Map<AuthFailure, GatewayError>();

  function refuse(ctx: RequestContext, reason: AuthFailure): GatewayError {
    ctx.authFailure = reason;
    let err = refusals.get(reason);
    if (err === undefined) refusals.set(reason, (err = refusal(reason, realm, scopes)));
    return err;
  }

  /** Route rules on a verified token (run on every hit too: the cache is shared by all routes). */
  function admit(ctx: RequestContext, v: Verified): HookResult {
    if (allowed !== undefined && !allowed.has(v.issuer)) return refuse(ctx, 'wrong_issuer');
    for (let i = 0; i < scopes.length; i++) if (!v.scopes.has(scopes[i]!)) return refuse(ctx, 'insufficient_scope');
    ctx.principal = v.principal;
    const fwd = v.forward;
    for (let i = 0; i < fwd.length; i += 2) ctx.addUpstreamHeader(fwd[i]!, fwd[i + 1]!);
    if (strip) ctx.removeUpstreamHeader('authorization');
    return undefined;
  }

  function settle(ctx: RequestContext, token: string, v: Verified | AuthFailure): HookResult {
    if (typeof v === 'string') return refuse(ctx, v);
    if (v.key.alive) cache.set(token, v);
    return admit(ctx, v);
  }

  return {
    policy: 'jwt-auth',
    onRequest(ctx: RequestContext) {
      // An earlier auth policy (an API key on a route with `apiKey: optional`) already admitted the
      // caller: that satisfies `jwt: required`, and the route's scopes still apply to it.
      const earlier = ctx.principal;
      if (earlier !== undefined) {
        for (let i = 0; i < scopes.length; i++) if (!earlier.scopes.includes(scopes[i]!)) return refuse(ctx, 'insufficient_scope');
        if (strip) ctx.removeUpstreamHeader('authorization');
        return undefined;
      }
      const token = bearerToken(ctx.upstreamHeaders);
      if (typeof token === 'number') {
        if (token === MALFORMED_CREDENTIALS) return refuse(ctx, 'malformed');
        // RFC 6750 §3.1: another scheme gets the challenge without an error code, like no credentials.
        if (token === OTHER_SCHEME && (required || !passOtherSchemes)) return refuse(ctx, 'missing');
        return required ? refuse(ctx, 'missing') : undefined;
      }
      if (token === '') return refuse(ctx, 'malformed');
      const hit = cache.get(token);
      if (hit !== undefined) {
        // The request's arrival time (read once by the request entry), not another clock read.
        if (hit.expiresAt > ctx.startedAt && hit.key.alive) return admit(ctx, hit);
        cache.delete(token);
      }
      const r = verifyToken(shared, token);
      if (typeof r === 'string' || !(r instanceof Promise)) return settle(ctx, token, r);
      return r.then((v) => settle(ctx, token, v));
    },
  };
}

export const jwtAuthPolicy = definePolicy<RouteAuthConfig, JwtShared | undefined, JwtConfig>({
  name: 'jwt-auth',
  phase: 'auth',
  order: 10,
  field: 'auth',
  config: RouteAuthSchema,
  globalField: 'jwt',
  global: JwtSchema,
  // Verification is CPU work or a JWKS fetch with its own timeout (jwt.jwks.timeout).
  timeout: 0,
  validate: (view, p) => checkJwtConfig(view.document as unknown as Config, p),
  setup: (view, services, previous) => setup(view.document as unknown as Config, services, previous),
  strippedRequestHeaders: (shared) => shared?.stripped ?? [],
  create: (auth, { shared }) => createHooks(auth, shared),
  dispose: (shared, next) => (shared ? dispose(shared, next) : undefined),
});
