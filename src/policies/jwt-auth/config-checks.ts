/**
 * Cross-field rules for `jwt` and route `auth` that the schema alone cannot say. Every problem names
 * its field path. Key files are not read here (setup imports them once and reports what fails).
 */
import type { Config, RouteConfig } from '../../config/schema.js';
import type { Problems } from '../../pipeline/contract.js';
import { suggest } from '../../util/suggest.js';
import { HS_ALGORITHMS, type IssuerConfig, type JwtConfig } from './schema.js';

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/** Headers a claim may never be forwarded as: the gateway or HTTP framing own them. */
const RESERVED_HEADERS = new Set([
  'host', 'authorization', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip', 'x-request-id', 'expect',
  'proxy-authorization', 'proxy-connection', 'content-type', 'content-encoding',
]);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** JWKS must come over https; plain http only from a loopback host (tests, a local IdP sidecar). */
export function jwksUriProblem(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'expected an https:// URL';
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && (LOOPBACK.has(u.hostname) || /^127\.\d+\.\d+\.\d+$/.test(u.hostname))) return undefined;
  return `must be https:// (http:// is accepted only for loopback hosts), got ${JSON.stringify(uri)}`;
}

function keySources(iss: IssuerConfig): string[] {
  return (['secret', 'jwksUri', 'jwksFile', 'publicKeyFile'] as const).filter((k) => iss[k] !== undefined);
}

function checkIssuer(iss: IssuerConfig, at: string, p: Problems): void {
  // API-key consumers have the issuer "apikey" (their rate-limit buckets are "k:<consumer>").
  if (iss.name === 'apikey') p.add(`${at}.name`, '"apikey" is reserved for API-key consumers; choose another issuer name');
  const sources = keySources(iss);
  if (sources.length !== 1) {
    p.add(at, sources.length === 0 ? 'needs one of secret, jwksUri, jwksFile or publicKeyFile' : `give only one of ${sources.join(', ')}`);
    return;
  }
  const source = sources[0]!;
  iss.algorithms.forEach((alg, j) => {
    const hs = (HS_ALGORITHMS as readonly string[]).includes(alg);
    if (hs && source !== 'secret') p.add(`${at}.algorithms[${j}]`, `${alg} is an HMAC algorithm and needs a secret; this issuer has ${source} (mixing them invites key confusion)`);
    if (!hs && source === 'secret') p.add(`${at}.algorithms[${j}]`, `${alg} needs a public key (jwksUri, jwksFile or publicKeyFile), not a secret`);
  });
  if (iss.secret !== undefined) {
    const bytes = Buffer.byteLength(iss.secret, 'utf8');
    const need = Math.max(0, ...iss.algorithms.map((a) => MIN_SECRET_BYTES[a] ?? 0));
    if (bytes < need) p.add(`${at}.secret`, `too short: ${bytes} bytes; ${iss.algorithms.join('/')} needs at least ${need} (RFC 7518 §3.2)`);
  }
  if (iss.jwksUri !== undefined) {
    const problem = jwksUriProblem(iss.jwksUri);
    if (problem) p.add(`${at}.jwksUri`, problem);
  }
  if (iss.audiences === undefined) p.warn(`${at}.audiences`, 'not set: tokens this issuer minted for any other service are accepted too');
}

function checkRouteAuth(route: Pick<RouteConfig, 'auth'>, at: string, jwt: JwtConfig | undefined, p: Problems): void {
  const auth = route.auth;
  if (auth === undefined || auth === 'none') return;
  if (jwt === undefined) {
    p.add(`${at}.auth`, 'needs a top-level jwt block with at least one issuer');
    return;
  }
  const names = jwt.issuers.map((i) => i.name);
  auth.issuers?.forEach((name, j) => {
    if (!names.includes(name)) {
      const hint = suggest(name, names);
      p.add(`${at}.auth.issuers[${j}]`, `unknown issuer "${name}" (${hint ? `did you mean "${hint}"? ` : ''}known: ${names.join(', ')})`);
    }
  });
  if (auth.jwt === 'optional' && auth.scopes?.length) {
    p.warn(`${at}.auth.scopes`, 'with jwt: optional, a request without a token passes without these scopes');
  }
}

function requiresJwt(route: RouteConfig, config: Config): boolean {
  const auth = route.auth ?? config.defaults.auth;
  return auth !== undefined && auth !== 'none' && auth.jwt === 'required';
}

/** The literal path a route's match starts with, for prefix containment. */
function literalPath(route: RouteConfig): string {
  const m = route.match;
  if (m.pathPrefix !== undefined) return m.pathPrefix.replace(/\/+$/, '');
  const path = m.path ?? '';
  const param = path.indexOf('/:');
  return param === -1 ? path : path.slice(0, param);
}

function within(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

function overlaps(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a === undefined || b === undefined || a.some((x) => b.includes(x));
}

/**
 * A more specific route wins over a prefix route, auth and all: `/api/orders/:id/items` without
 * auth under a protected `/api/orders` prefix is an open door. Warn about every such gap.
 */
function checkAuthGaps(config: Config, p: Problems): void {
  config.routes.forEach((outer, i) => {
    if (outer.match.pathPrefix === undefined || !requiresJwt(outer, config)) return;
    const prefix = literalPath(outer);
    config.routes.forEach((inner, j) => {
      // An explicit `auth: none` is a deliberate opt-out; only an unstated or optional auth is a gap.
      if (i === j || inner.auth === 'none' || requiresJwt(inner, config)) return;
      const path = literalPath(inner);
      const moreSpecific = inner.match.pathPrefix === undefined || path.length > prefix.length;
      if (!moreSpecific || !within(path, prefix)) return;
      if (!overlaps(inner.match.methods, outer.match.methods) || !overlaps(inner.match.hosts, outer.match.hosts)) return;
      p.warn(
        `routes[${j}].auth`,
        `route "${inner.name}" takes requests under "${outer.match.pathPrefix}", where route "${outer.name}" requires a JWT, but does not require one itself`,
      );
    });
  });
}

export function checkJwtConfig(config: Config, p: Problems): void {
  checkAuthGaps(config, p);
  const jwt = config.jwt;
  if (jwt !== undefined) {
    const byName = new Map<string, number>();
    const byIss = new Map<string, number>();
    jwt.issuers.forEach((iss, i) => {
      const at = `jwt.issuers[${i}]`;
      const sameName = byName.get(iss.name);
      if (sameName !== undefined) p.add(`${at}.name`, `duplicate issuer name "${iss.name}" (also jwt.issuers[${sameName}])`);
      else byName.set(iss.name, i);
      const sameIss = byIss.get(iss.issuer);
      if (sameIss !== undefined) p.add(`${at}.issuer`, `the same iss as jwt.issuers[${sameIss}]: iss must pick exactly one issuer`);
      else byIss.set(iss.issuer, i);
      checkIssuer(iss, at, p);
    });
    const headers = new Map<string, string>();
    for (const [claim, header] of Object.entries(jwt.forwardClaims)) {
      // Compared as backends that fold `_` into `-` see them (X_Forwarded_For is X-Forwarded-For there).
      const h = header.toLowerCase().replaceAll('_', '-');
      if (RESERVED_HEADERS.has(h)) p.add(`jwt.forwardClaims.${claim}`, `"${header}" is a header the gateway or HTTP owns; pick another name (e.g. X-User-${claim})`);
      const other = headers.get(h);
      if (other !== undefined) p.add(`jwt.forwardClaims.${claim}`, `"${header}" is already used for claim "${other}"`);
      headers.set(h, claim);
    }
  }
  checkRouteAuth(config.defaults, 'defaults', jwt, p);
  config.routes.forEach((route, i) => checkRouteAuth(route, `routes[${i}]`, jwt, p));
}
