/**
 * The config the JWT policy owns: the top-level `jwt` block (issuers, keys, forwarding) and the
 * route-level `auth` field (also accepted in `defaults`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size, Strict } from '../../config/types.js';

export const HS_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const ALGORITHMS = [...HS_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type JwtAlgorithm = (typeof ALGORITHMS)[number];

const HEADER_NAME = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

export const IssuerSchema = Strict({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Short name routes use in auth.issuers and the token tool uses in --issuer.' }),
  issuer: Type.String({ minLength: 1, description: 'The exact `iss` claim of this issuer\'s tokens; it selects the issuer.' }),
  audiences: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'The token `aud` (string or array) must contain one of these. Strongly recommended.' }),
  ),
  algorithms: Type.Array(Type.Union(ALGORITHMS.map((a) => Type.Literal(a))), {
    minItems: 1,
    description: 'Algorithms accepted for this issuer. HS* need `secret`; the others need a public key (jwksUri, jwksFile or publicKeyFile). `none` is never accepted.',
  }),
  secret: Type.Optional(Type.String({ writeOnly: true, description: 'HMAC secret (HS*): at least as many bytes as the hash (32 for HS256). Use ${ENV}.' })),
  jwksUri: Type.Optional(Type.String({ format: 'http-url', description: 'JWKS endpoint (https; http only for loopback hosts). Fetched at start, refreshed in the background.' })),
  jwksFile: Type.Optional(Type.String({ minLength: 1, description: 'A JWKS file (as `gateway keys generate` writes), read when the config is compiled.' })),
  publicKeyFile: Type.Optional(Type.String({ minLength: 1, description: 'A PEM public key (SPKI), read when the config is compiled.' })),
});

export const JwtSchema = Strict(
  {
    clockTolerance: Duration('Leeway for exp, nbf and iat, for clock skew between the issuer and the gateway.', '30s'),
    requireExp: Type.Boolean({ default: true, description: 'Reject tokens without an `exp` claim.' }),
    maxTokenSize: Size('Longest token accepted; longer ones are refused before any parsing.', '8kb'),
    realm: Type.String({ pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*$', default: 'gateway', description: 'The realm in WWW-Authenticate.' }),
    issuers: Type.Array(IssuerSchema, { minItems: 1, description: 'Trusted token issuers.' }),
    forwardClaims: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: HEADER_NAME }), {
      default: {},
      description:
        'Claims sent upstream as headers, e.g. { sub: X-User-Id, scope: X-User-Scopes }. Client-sent copies of these headers are removed on every route. `scope` forwards the scopes from scope or scp, space separated. Values are percent-encoded where needed (`%`, non-ASCII, controls; see docs/auth.md), one decodeURIComponent restores them.',
    }),
    stripAuthorization: Type.Boolean({ default: false, description: 'Remove Authorization before forwarding a verified request.' }),
    cacheSize: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 10_000, description: 'Verified tokens kept (LRU); an entry never outlives its exp. 0 disables the cache.' }),
    jwks: Strict(
      {
        timeout: Duration('Time allowed for one JWKS fetch.', '5s'),
        refreshInterval: Duration('Background refresh of every JWKS endpoint.', '10m'),
        cooldown: Duration('An unknown kid triggers at most one refetch per cooldown; also the retry pace while no key set was ever fetched.', '30s'),
      },
      { default: {}, description: 'JWKS fetching.' },
    ),
  },
  { description: 'JWT authentication: the trusted issuers and their keys. Routes opt in with `auth: { jwt: required }`.' },
);

export const RouteAuthSchema = Type.Union(
  [
    Type.Literal('none'),
    Strict({
      jwt: Type.Union([Type.Literal('required'), Type.Literal('optional')], {
        description: 'required: no valid token, no entry. optional: no token passes anonymously; a bad token is still refused.',
      }),
      scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), { description: 'Scopes the token must all carry (403 otherwise).' })),
      issuers: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Names of jwt.issuers this route accepts (all when absent).' })),
      otherSchemes: Type.Union([Type.Literal('refuse'), Type.Literal('forward')], {
        default: 'refuse',
        description:
          'An Authorization of another scheme (Basic …) on a `jwt: optional` route. refuse: 401 like a missing token. forward: pass it anonymously with the header, for a backend that checks it. A malformed Bearer is refused either way.',
      }),
    }),
  ],
  { description: 'Authentication for this route: `none`, or `{ jwt: required | optional, scopes, issuers, otherSchemes: refuse | forward }`.' },
);

export const jwtRouteFields = { auth: Type.Optional(RouteAuthSchema) };
export const jwtGlobalFields = { jwt: Type.Optional(JwtSchema) };

export type JwtConfig = Static<typeof JwtSchema>;
export type IssuerConfig = Static<typeof IssuerSchema>;
export type RouteAuthConfig = Static<typeof RouteAuthSchema>;
