/**
 * API-key authentication (Kong's key-auth): a key in a header (default X-API-Key) or, if configured,
 * a query parameter names a consumer with scopes. The principal it sets is the one a JWT would set
 * (subject = consumer, issuer `apikey`), so rate-limit key `consumer` and the access log treat both
 * alike. Phase auth, order 5: after CORS preflights, before JWT — with `apiKey: optional` and
 * `auth: { jwt: required }` a route takes either (the JWT policy lets an admitted principal through).
 *
 * The key never travels on: the header and the query parameter are removed from the upstream request
 * whether or not the key was valid, and the access log writes no headers and no query string.
 */
import { GatewayError } from '../../errors.js';
import { definePolicy, type PolicyConfigView, type PolicyContext, type PolicyHooks, type Principal } from '../../pipeline/contract.js';
import { buildKeyTable, entryProblems, sha256Hex, takeQueryParam } from './keys.js';
import { ApiKeySettingsSchema, RouteApiKeySchema, type ApiKeySettings, type RouteApiKeyConfig } from './schema.js';

export interface ApiKeyShared {
  /** SHA-256 hex of each key → its consumer's principal. */
  readonly table: ReadonlyMap<string, Principal>;
  /** Lower-case header name. */
  readonly header: string;
  readonly query: string | undefined;
}

/** RFC 9110 §11.6.1: a 401 carries a challenge; `Key` is what Kong's key-auth sends. */
const CHALLENGE = 'Key realm="gateway"';

function createHooks(route: RouteApiKeyConfig, shared: ApiKeyShared | undefined): PolicyHooks | undefined {
  if (shared === undefined) return undefined; // validate() made sure the top-level block exists
  const required = (typeof route === 'string' ? route : route.mode) === 'required';
  const scopes = typeof route === 'string' ? [] : (route.scopes ?? []);
  const { table, header, query } = shared;
  // Refusals are built once per route: a flood of bad keys allocates no errors.
  const MISSING = new GatewayError('GW_ERR_APIKEY_MISSING', undefined, { 'www-authenticate': CHALLENGE });
  const INVALID = new GatewayError('GW_ERR_APIKEY_INVALID', undefined, { 'www-authenticate': CHALLENGE });
  const scopeRefusal = new GatewayError('GW_ERR_AUTH_SCOPE', `The API key lacks a required scope (needs: ${scopes.join(' ')}).`);

  return {
    policy: 'api-key',
    onRequest(ctx: PolicyContext) {
      let key = ctx.header(header);
      if (key !== undefined) ctx.removeUpstreamHeader(header);
      if (query !== undefined) {
        const q = takeQueryParam(ctx.query, query);
        if (q !== undefined) {
          ctx.setQuery(q.rest);
          key ??= q.value;
        }
      }
      if (key === undefined || key === '') return required ? MISSING : undefined;
      // Constant time with respect to the secret: the Map compares digests, not keys. What a lookup's
      // timing could reveal is about the digest of the key the caller sent, which it already knows,
      // and SHA-256's preimage resistance keeps it from steering that digest towards a stored one.
      const principal = table.get(sha256Hex(key));
      if (principal === undefined) return INVALID;
      for (let i = 0; i < scopes.length; i++) if (!principal.scopes.includes(scopes[i]!)) return scopeRefusal;
      ctx.principal = principal;
      return undefined;
    },
  };
}

export const apiKeyPolicy = definePolicy<RouteApiKeyConfig, ApiKeyShared | undefined, ApiKeySettings>({
  name: 'api-key',
  phase: 'auth',
  order: 5,
  field: 'apiKey',
  config: RouteApiKeySchema,
  globalField: 'apiKey',
  global: ApiKeySettingsSchema,
  timeout: 0,
  validate(view: PolicyConfigView<RouteApiKeyConfig, ApiKeySettings>, p) {
    const g = view.global;
    if (g !== undefined) {
      g.keys.forEach((k, i) => entryProblems(k, `apiKey.keys[${i}]`).forEach((m) => p.list.push(m)));
      if (g.keys.length === 0 && g.keysFile === undefined) p.add('apiKey', 'no keys: set keys, keysFile or both');
    }
    const doc = view.document as { routes?: readonly Record<string, unknown>[]; defaults?: Record<string, unknown> };
    const jwtRequired = (auth: unknown) => auth !== null && typeof auth === 'object' && (auth as { jwt?: string }).jwt === 'required';
    const reported = new Set<string>();
    view.routes.forEach((r, i) => {
      if (r.config === undefined) return;
      const own = doc.routes?.[i]?.['apiKey'] !== undefined;
      const at = own ? `${r.at}.apiKey` : 'defaults.apiKey';
      if (reported.has(at)) return;
      if (g === undefined) {
        p.add(at, 'needs the top-level apiKey block (keys, keysFile)');
        reported.add(at);
        return;
      }
      const mode = typeof r.config === 'string' ? r.config : r.config.mode;
      const auth = doc.routes?.[i]?.['auth'] ?? doc.defaults?.['auth'];
      if (mode === 'required' && jwtRequired(auth)) {
        p.add(at, 'with auth: { jwt: required } use apiKey: optional — a request then needs a valid API key or a valid token (both at once are not supported)');
        reported.add(at);
      }
    });
  },
  async setup(view, services): Promise<ApiKeyShared | undefined> {
    const g = view.global;
    if (g === undefined) return undefined;
    return { table: await buildKeyTable(g, services), header: g.header.toLowerCase(), query: g.query };
  },
  create: (route, { shared }) => createHooks(route, shared),
});
