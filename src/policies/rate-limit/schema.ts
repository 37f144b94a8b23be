/**
 * Rate-limit config. Two fields share the name `rateLimit` and both belong to this policy:
 * top-level `rateLimit` (where counters live, what to send) and route-level `rateLimit` (the list of
 * limits). Cross-field rules (window in whole seconds, redis needs a url …) are in ./validate.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Strict } from '../../config/types.js';

/** Header names are RFC 9110 tokens; `header:` keys are matched lower-case. */
export const KEY_PATTERN = "^(ip|consumer|route|client-cert|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$";
/** Limit names appear in Redis keys and as sf-strings in RateLimit headers: keep them plain. */
export const NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';

const RedisNodeSchema = Strict({
  host: Type.String({ minLength: 1, description: 'Host name or address.' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port.' }),
});

export const LimitSchema = Strict(
  {
    key: Type.String({
      pattern: KEY_PATTERN,
      description: 'ip, consumer, route, client-cert (the verified mTLS client certificate subject; ip without one) or header:<name> (see docs/rate-limiting.md)',
    }),
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests allowed per window.' }),
    window: Duration('The window, in whole seconds (1s, 1m, 1h, 1d). The limit refills continuously: see docs/rate-limiting.md.'),
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('shadow')], {
      default: 'enforce',
      description: 'enforce rejects with 429; shadow only counts, logs and sets headers (try a limit on live traffic first).',
    }),
    name: Type.Optional(
      Type.String({
        pattern: NAME_PATTERN,
        description: 'Policy name in the RateLimit headers and the store key (default: the key and the window, e.g. ip-1s).',
      }),
    ),
  },
  {
    description:
      'One limit: at most `limit` requests per `window` for each value of `key`. ip is the client address after server.trustedProxies; consumer the JWT issuer + sub (ip when anonymous); route one bucket for all clients; header:<name> one per header value (ip when absent).',
  },
);

export const LimitListSchema = Type.Array(LimitSchema, {
  description: 'Rate limits that all apply to a request ([] switches off limits inherited from defaults).',
});

export const RateLimitSettingsSchema = Strict(
  {
    store: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      default: 'memory',
      description: 'memory: per process, zero set-up. redis: shared by every worker and host that uses the same Redis.',
    }),
    redis: Strict(
      {
        url: Type.Optional(Type.String({ writeOnly: true, description: 'One Redis server: a redis:// or rediss:// URL (credentials and db in the URL; secret: errors never show it). Exactly one of url, sentinels or cluster with store: redis.' })),
        sentinels: Type.Optional(
          Type.Array(RedisNodeSchema, {
            minItems: 1,
            description: 'Redis Sentinel: some of the sentinels watching the master group `name`; the gateway asks them for the current master and follows a failover.',
          }),
        ),
        name: Type.Optional(Type.String({ minLength: 1, description: 'With sentinels: the master group name (as in `sentinel monitor <name> …`).' })),
        cluster: Type.Optional(
          Type.Array(Type.Union([RedisNodeSchema, Type.String({ writeOnly: true, pattern: '^rediss?://', hint: 'a redis:// or rediss:// URL' })]), {
            minItems: 1,
            description: 'Redis Cluster: some of its nodes, as { host, port } or redis:// URLs; the rest are discovered. Keys carry a hash tag so the keys of one request share a slot (see docs/rate-limiting.md).',
          }),
        ),
        username: Type.Optional(Type.String({ description: 'ACL user for the Redis servers found through sentinels or cluster (with url, put it in the URL).' })),
        password: Type.Optional(Type.String({ writeOnly: true, description: 'Password for the Redis servers found through sentinels or cluster (with url, put it in the URL). Use "${VAR}".' })),
        sentinelPassword: Type.Optional(Type.String({ writeOnly: true, description: 'Password of the sentinels themselves, when they require one.' })),
        timeout: Duration('Longest wait for Redis on a request; past it the request is decided by onStoreError.', '50ms'),
        prefix: Type.String({ default: 'gw:', maxLength: 64, description: 'Prefix of every key the gateway writes.' }),
      },
      { default: {}, description: 'The Redis store.' },
    ),
    ipv6Prefix: Type.Integer({
      minimum: 16,
      maximum: 128,
      default: 64,
      description: 'IPv6 clients are counted per network of this prefix length (ip keys, and the ip fallback of consumer and header keys): one host owns a whole /64, so per-address buckets would not limit it.',
    }),
    onStoreError: Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      default: 'allow',
      description: 'When the store fails or is slower than redis.timeout: allow the request, or deny it with 503 GW_ERR_RATE_LIMIT_STORE.',
    }),
    memory: Strict(
      {
        maxKeys: Type.Integer({
          minimum: 1000,
          maximum: 50_000_000,
          default: 1_000_000,
          description: 'Most buckets kept in memory; past it the least recently used are dropped (those clients start afresh).',
        }),
      },
      { default: {}, description: 'The memory store.' },
    ),
    headers: Strict(
      {
        draft11: Type.Boolean({ default: true, description: 'Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11).' }),
        legacy: Type.Boolean({ default: true, description: 'Send RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset for the tightest limit.' }),
      },
      { default: {}, description: 'Response headers on routes with limits.' },
    ),
  },
  { default: {}, description: 'Where rate-limit counters live and what limited routes answer with. The limits themselves are set per route.' },
);

export type LimitConfig = Static<typeof LimitSchema>;
export type RateLimitSettings = Static<typeof RateLimitSettingsSchema>;
export type RedisSettings = RateLimitSettings['redis'];

export const rateLimitRouteFields = { rateLimit: Type.Optional(LimitListSchema) };
export const rateLimitGlobalFields = { rateLimit: RateLimitSettingsSchema };
