/**
 * The config the API-key policy owns: the top-level `apiKey` block (the keys, where a request carries
 * one) and the route-level `apiKey` field (also in `defaults`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../../config/types.js';

const HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
const SCOPE = Type.String({ minLength: 1, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$', hint: 'a scope (printable, no spaces, quotes or backslashes)' });

export const KeyEntrySchema = Strict(
  {
    consumer: Type.String({
      pattern: '^[A-Za-z0-9_.@:-]{1,128}$',
      hint: 'a name of letters, digits, "_", ".", "@", ":" or "-"',
      description: 'Who the key belongs to: the principal subject (rate-limit key `consumer`, the access log\'s `consumer`), as a JWT `sub` is.',
    }),
    scopes: Type.Array(SCOPE, { default: [], description: 'Scopes the key grants (routes may require some).' }),
    key: Type.Optional(Type.String({ minLength: 1, description: 'The key itself, at least 16 characters (use "${ENV}" rather than writing it in the file). Only its SHA-256 is kept in memory.' })),
    keyEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', hint: 'an environment variable name', description: 'Name of the environment variable holding the key, read when the config is compiled.' })),
    sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', hint: '64 hex digits', description: 'The key\'s SHA-256, hex (`printf %s "$KEY" | sha256sum`): the gateway never needs the key itself.' })),
  },
  { description: 'One API key: exactly one of key, keyEnv or sha256.' },
);

export const KeysFileSchema = Strict({ keys: Type.Array(KeyEntrySchema) }, { description: 'A keys file: `keys:` with entries as in apiKey.keys (YAML or JSON).' });

export const ApiKeySettingsSchema = Strict(
  {
    header: Type.String({ pattern: HEADER_NAME, default: 'x-api-key', hint: 'a header name', description: 'Request header carrying the key.' }),
    query: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.~-]+$',
        hint: 'a query parameter name',
        description: 'Query parameter that may carry the key instead (e.g. api_key); absent: the query is not read. Keys in URLs end up in browser history and other servers\' logs: prefer the header.',
      }),
    ),
    keys: Type.Array(KeyEntrySchema, { default: [], description: 'The keys, each with its consumer and scopes.' }),
    keysFile: Type.Optional(Type.String({ minLength: 1, description: 'A YAML or JSON file with `keys:` (entries as in keys), relative to the config file; read when the config is compiled (a reload re-reads it).' })),
  },
  { description: 'API-key authentication: the keys and where requests carry them. Routes opt in with `apiKey: required` (or optional).' },
);

const Mode = Type.Union([Type.Literal('required'), Type.Literal('optional')], {
  description: 'required: no valid key, no entry. optional: a request without a key goes on (anonymous, or to JWT auth); a wrong key is still refused.',
});

export const RouteApiKeySchema = Type.Union(
  [
    Type.Literal('required'),
    Type.Literal('optional'),
    Strict({ mode: Mode, scopes: Type.Optional(Type.Array(SCOPE, { description: 'Scopes the key must all grant (403 otherwise).' })) }),
  ],
  {
    description:
      'API-key authentication for this route: required, optional or { mode, scopes }. To accept either an API key or a JWT, set `apiKey: optional` with `auth: { jwt: required }`: a valid key admits the request, without one a valid token is needed.',
  },
);

export type KeyEntry = Static<typeof KeyEntrySchema>;
export type ApiKeySettings = Static<typeof ApiKeySettingsSchema>;
export type RouteApiKeyConfig = Static<typeof RouteApiKeySchema>;

export const apiKeyRouteFields = { apiKey: Type.Optional(RouteApiKeySchema) };
export const apiKeyGlobalFields = { apiKey: Type.Optional(ApiKeySettingsSchema) };
