/**
 * The config schema: the single source of the TypeScript types, the JSON Schema (`gateway schema`)
 * and the config reference. Every field has a description; every default lives here.
 * Policy folders own their own fields (src/policies/<name>/schema.ts) and are spread in below.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { policyField, policyGlobalField, type AnyPolicy } from '../pipeline/contract.js';
import { Duration, Size, Strict } from './types.js';
import { policyGlobalFields, policyRouteFields } from '../policies/fields.js';
import { MetricsSchema, TracingSchema } from '../observe/schema.js';
import { matchOptionFields, PathsSchema } from '../router/schema.js';
import { HealthCheckSchema, OutlierDetectionSchema } from '../upstream/schema.js';

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;

export const TlsServerSchema = Strict(
  {
    certificates: Type.Array(
      Strict({
        cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first), relative to the config file.' }),
        key: Type.String({ minLength: 1, description: 'PEM private key file of that certificate.' }),
      }),
      {
        minItems: 1,
        description:
          'Certificates, chosen by SNI from the DNS names (subjectAltName, else CN; exact and *. wildcard) each one carries. The first is the default for unknown or absent names.',
      },
    ),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version accepted.' }),
    ciphers: Type.Optional(Type.String({ minLength: 1, description: "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults). Default: Node's." })),
    clientCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle: ask clients for a certificate and verify it against these CAs (mutual TLS).' })),
    clientCertRequired: Type.Boolean({
      default: true,
      description: 'With clientCa: refuse the handshake without a valid client certificate. false: accept clients without one (the subject is then absent).',
    }),
    watch: Type.Boolean({ default: true, description: 'Re-read certificates and keys when their files change (renewals need no restart); a broken file keeps the old ones.' }),
  },
  { description: 'Terminate TLS on the proxy listener (HTTPS, and HTTP/2 by ALPN unless http2.enabled is false).' },
);

export const Http2Schema = Strict(
  {
    enabled: Type.Boolean({ default: true, description: 'Offer HTTP/2 (ALPN h2) on the TLS listener beside HTTP/1.1.' }),
    maxConcurrentStreams: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Streams one HTTP/2 connection may have open at once.' }),
    maxSessionInvalidFrames: Type.Integer({
      minimum: 1,
      default: 1000,
      description: 'Invalid frames tolerated on one connection before it is closed (CVE-2019-9514..9518 floods).',
    }),
    maxSessionRejectedStreams: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'Streams refused for exceeding maxConcurrentStreams before the connection is closed (CVE-2023-44487 rapid reset).',
    }),
  },
  { default: {}, description: 'HTTP/2 on the TLS and h2c listeners.' },
);
/** Upper bound of server.maxHeaderCount (the listener keeps one more field than this, to see the excess). */
export const MAX_HEADER_COUNT = 10_000;

export const ServerSchema = Strict(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address the proxy listens on. Use 0.0.0.0 or :: to accept traffic from other hosts.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'Port the proxy listens on (0 picks a free one).' }),
    trustedProxies: Type.Array(Type.String({ format: 'cidr' }), {
      default: [],
      description: 'CIDRs of load balancers whose X-Forwarded-For/-Proto/-Host are believed. From any other peer those headers are replaced.',
    }),
    maxBodySize: Size('Default request body limit for every route (413 above it; 0 = no limit). Routes may override.', '10mb'),
    maxHeaderSize: Size('Largest request head accepted (431 above it).', '16kb'),
    maxHeaderCount: Type.Integer({
      minimum: 1,
      maximum: MAX_HEADER_COUNT,
      default: 100,
      description: 'Most header fields a request may carry (431 above it, as Envoy\'s max_headers_count). Never silently truncated.',
    }),
    keepAliveTimeout: Duration('How long an idle client connection is kept open.', '65s'),
    headersTimeout: Duration('Time allowed for a client to send the request head.', '30s'),
    requestTimeout: Duration('Time allowed for a client to send the whole request (0 disables; uploads need room).', '5m'),
    allowTrace: Type.Boolean({
      default: false,
      description: 'Accept TRACE on every route. Off: TRACE is a 405 (it echoes the request, cookies and credentials included, back to a script: cross-site tracing), unless a route sets allowTrace or lists TRACE in match.methods.',
    }),
    gracePeriod: Duration('On SIGTERM/SIGINT, how long in-flight requests may run before connections are closed.', '10s'),
    paths: PathsSchema,
    tls: Type.Optional(TlsServerSchema),
    redirectHttp: Type.Optional(
      Strict(
        {
          port: Type.Integer({ minimum: 0, maximum: 65535, description: 'Port of the plain-HTTP listener (0 picks a free one).' }),
          host: Type.Optional(Type.String({ description: 'Address it listens on (default: server.host).' })),
        },
        { description: 'A plain-HTTP listener that answers every request with 308 to the same URL on https:// (needs server.tls).' },
      ),
    ),
    h2c: Type.Optional(
      Strict(
        {
          port: Type.Integer({ minimum: 0, maximum: 65535, description: 'Port of the cleartext HTTP/2 listener (0 picks a free one).' }),
          host: Type.Optional(Type.String({ description: 'Address it listens on (default: server.host). Keep it on an internal network.' })),
        },
        { description: 'A cleartext HTTP/2 listener with prior knowledge (h2c), for internal traffic. Only HTTP/2 is spoken there.' },
      ),
    ),
    http2: Http2Schema,
    maxConnections: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'Most client connections open at once (per process); a connection beyond it is closed at once and counted in gateway_connections_dropped_total. 0 = no limit.',
    }),
    maxRequestsPerConnection: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Requests served on one keep-alive connection before the gateway answers with Connection: close (spreads clients over workers and hosts). 0 = no limit.',
    }),
  },
  { default: {}, description: 'The proxy listener.' },
);

export const AdminSchema = Strict(
  {
    enabled: Type.Boolean({ default: true, description: 'Serve /health, /ready, /routes and /metrics.' }),
    host: Type.String({ default: '127.0.0.1', description: 'Admin address. Keep it on loopback or a private network.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8001, description: 'Admin port (0 picks a free one).' }),
    allowedHosts: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Host names the admin listener answers to, besides IP addresses and localhost (a Kubernetes service name, a Prometheus target name). Any other Host is a 421: a web page whose DNS name rebinds to the admin address cannot read it.',
    }),
  },
  { default: {}, description: 'The admin listener, separate from the proxy.' },
);

export const TargetSchema = Strict({
  url: Type.String({ format: 'http-url', description: 'Base URL of one backend instance; a path here prefixes every upstream path.' }),
  weight: Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Relative share of traffic.' }),
});

const RETRY_ON = ['connect-failure', 'reset', 'timeout'] as const;
const RETRY_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST', 'PATCH', 'TRACE'] as const;

export const RetriesSchema = Strict(
  {
    attempts: Type.Integer({ minimum: 1, maximum: 10, default: 2, description: 'Retries after the first try (2: at most three tries).' }),
    budget: Type.String({
      pattern: '^(100|[1-9]?[0-9])(\\.[0-9]+)?%$',
      default: '20%',
      hint: 'a percentage like 20%',
      description: "Retries may add at most this share of the upstream's requests (a token bucket, as Envoy's and Finagle's retry budgets): retries never multiply an outage.",
    }),
    minRetriesPerSecond: Type.Number({ minimum: 0, maximum: 1000, default: 3, description: 'Retries always allowed per second, so a quiet upstream can still retry (the budget floor).' }),
    on: Type.Array(Type.Union([...RETRY_ON.map((x) => Type.Literal(x)), Type.Integer({ minimum: 500, maximum: 599 })]), {
      minItems: 1,
      default: ['connect-failure', 'reset', 502, 503, 504],
      description: 'What is retried: connect-failure (refused, no connection), reset (the connection broke before a response), timeout (no response head within perTryTimeout), and these 5xx response statuses.',
    }),
    perTryTimeout: Duration('Response-head timeout of each try (0: the route\'s response timeout).', '0s'),
    methods: Type.Array(Type.Union(RETRY_METHODS.map((m) => Type.Literal(m))), {
      minItems: 1,
      default: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
      description: 'Methods that are retried (idempotent ones by default; add POST only where the backend deduplicates).',
    }),
    maxBodySize: Size('Requests with a body up to this size are kept for a retry (only when retries are on); larger or chunked bodies are tried once.', '64kb'),
    backoff: Strict(
      {
        base: Duration('First retry waits up to this (full jitter); each further retry doubles it.', '25ms'),
        max: Duration('Longest wait before a retry.', '250ms'),
      },
      { default: {} },
    ),
  },
  { description: 'Retry failed tries on another target, before any response byte reached the client. Off unless set.' },
);

export const UpstreamSchema = Strict({
  targets: Type.Array(TargetSchema, { minItems: 1, description: 'Backend instances.' }),
  balance: Type.Union([Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('random')], {
    default: 'round-robin',
    description: 'round-robin (smooth, weighted by weight), least-connections (ties broken by weight) or random (weighted).',
  }),
  timeouts: Strict(
    {
      connect: Duration('Time to establish a TCP connection to a target.', '2s'),
      response: Duration('Time from sending the request until the response head arrives (504 after).', '30s'),
      idle: Duration('Longest silence between two chunks of the response body (also for SSE and long polls).', '30s'),
      websocketIdle: Duration('Longest silence (no frame either way) on a WebSocket tunnel before both sides are closed.', '1h'),
    },
    { default: {} },
  ),
  connections: Type.Integer({ minimum: 1, maximum: 100_000, default: 128, description: 'Most open connections per target.' }),
  outlierDetection: OutlierDetectionSchema,
  healthCheck: Type.Optional(HealthCheckSchema),
  keepAlive: Duration('How long an idle upstream connection is kept for reuse.', '60s'),
  retries: Type.Optional(RetriesSchema),
  tls: Type.Optional(
    Strict(
      {
        ca: Type.Optional(Type.String({ minLength: 1, description: "PEM CA bundle that signs the targets' certificates (default: Node's public CAs)." })),
        servername: Type.Optional(Type.String({ minLength: 1, description: "SNI name and the name the certificate must carry (default: the target's host)." })),
        cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate for mutual TLS to the targets (with key).' })),
        key: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of that client certificate.' })),
        insecureSkipVerify: Type.Boolean({
          default: false,
          description: 'Accept any certificate (no verification). For tests only: a warning is logged at every start.',
        }),
      },
      { description: 'TLS settings for https:// targets (and wss:// WebSocket tunnels to them). Files are relative to the config file.' },
    ),
  ),
});

export const MatchSchema = Strict(
  {
    path: Type.Optional(Type.String({ pattern: '^/', hint: 'a path starting with "/"', description: 'Exact path, or a pattern with parameters: /users/:id.' })),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', hint: 'a path starting with "/"', description: 'Segment-aware prefix: /api matches /api and /api/x, not /apix.' })),
    methods: Type.Optional(Type.Array(Type.Union(HTTP_METHODS.map((m) => Type.Literal(m))), { minItems: 1, description: 'Allowed methods (all when absent).' })),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Host names; *.example.com matches one or more labels below example.com.' })),
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', hint: 'a header name' }), Type.String(), {
        description: 'Header values that must all match exactly; "*" only requires presence.',
      }),
    ),
    ...matchOptionFields,
  },
  { description: 'What a request must look like to take this route. One of path or pathPrefix is required.' },
);

export const RouteSchema = Strict({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', hint: 'a name of letters, digits, "_", "." or "-"', description: 'Unique route name: used in logs, metrics and /routes.' }),
  match: MatchSchema,
  upstream: Type.String({ description: 'Name of an entry in upstreams.' }),
  stripPrefix: Type.Boolean({ default: false, description: 'Remove the matched pathPrefix before forwarding.' }),
  rewrite: Type.Optional(Type.String({ pattern: '^/', hint: 'a path starting with "/"', description: 'Replace the matched path (or prefix) with this; :params of the match may be used.' })),
  preserveHost: Type.Boolean({ default: false, description: "Send the client's Host upstream instead of the target's." }),
  allowTrace: Type.Optional(Type.Boolean({ description: 'Accept TRACE on this route (overrides server.allowTrace).' })),
  maxBodySize: Type.Optional(Size('Request body limit for this route (overrides server.maxBodySize; 0 = no limit).')),
  timeouts: Type.Optional(
    Strict({
      response: Type.Optional(Duration('Response-head timeout for this route (overrides the upstream).')),
      idle: Type.Optional(Duration('Body idle timeout for this route (overrides the upstream): the longest silence of an SSE stream or long poll.')),
      websocketIdle: Type.Optional(Duration('WebSocket tunnel idle timeout for this route (overrides the upstream).')),
    }),
  ),
  websocket: Type.Boolean({
    default: false,
    description: 'Accept WebSocket upgrades: the handshake runs the route\'s policies, then the gateway tunnels frames to ws:// (http targets) or wss:// (https targets).',
  }),
  retries: Type.Optional(
    Type.Union([Type.Literal(false), RetriesSchema], { description: "This route's retries instead of the upstream's (false: none). Whole, not merged field by field." }),
  ),
  ...policyRouteFields,
});

export const DefaultsSchema = Strict({ ...policyRouteFields }, { default: {}, description: 'Policy settings every route inherits unless it sets its own.' });

export const LoggingSchema = Strict(
  {
    level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'Lowest level written.' }),
    format: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json', description: 'json for machines; pretty for humans at a terminal (needs the optional package pino-pretty: npm install pino-pretty).' }),
    accessLog: Type.Boolean({ default: true, description: 'One line per request (event "access", level info). Off costs nothing per request.' }),
    sample: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 1,
      description: 'Share of successful requests logged. Responses with status >= 400 (and rate-limited or auth-failed requests) are always logged.',
    }),
    redactHeaders: Type.Array(Type.String(), {
      default: [],
      description: 'Further header names never written to logs. The access log writes no headers but User-Agent; Authorization, cookies and these are redacted from any other line that carries headers.',
    }),
  },
  { default: {}, description: 'Gateway events and access log (pino, standard output).' },
);

export const ConfigSchema = Strict(
  {
    $schema: Type.Optional(Type.String({ description: 'Path or URL of this JSON Schema, for editors.' })),
    server: ServerSchema,
    admin: AdminSchema,
    logging: LoggingSchema,
    metrics: MetricsSchema,
    tracing: TracingSchema,
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', hint: 'a name of letters, digits, "_", "." or "-"' }), UpstreamSchema, { description: 'Named groups of backend targets.' }),
    routes: Type.Array(RouteSchema, { description: 'The route table. Most specific match wins (see README).' }),
    defaults: DefaultsSchema,
    plugins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Policy modules to load (ESM files, paths relative to this file, or package names); each default-exports a definePolicy() result or a list of them. See docs/policies.md.',
    }),
    ...policyGlobalFields,
  },
  { title: 'API gateway configuration' },
);

/** The config schema with the fields of plugin policies added (route and `defaults` fields, top-level fields). */
export function extendConfigSchema(plugins: readonly AnyPolicy[]): TObject {
  const route: Record<string, TSchema> = {};
  const top: Record<string, TSchema> = {};
  for (const p of plugins) {
    if (p.phase === 'pre-route') {
      if (p.config !== undefined) top[policyField(p)] = Type.Optional(p.config);
    } else {
      if (p.config !== undefined) route[policyField(p)] = Type.Optional(p.config);
      if (p.global !== undefined) top[policyGlobalField(p)] = Type.Optional(p.global);
    }
  }
  const Route = Strict({ ...RouteSchema.properties, ...route });
  const Defaults = Strict({ ...DefaultsSchema.properties, ...route }, { default: {}, description: DefaultsSchema.description });
  return Strict(
    { ...ConfigSchema.properties, ...top, routes: Type.Array(Route, { description: ConfigSchema.properties.routes.description }), defaults: Defaults },
    { title: ConfigSchema.title },
  );
}

/** Config fields that belong to the gateway itself: a plugin may not claim them. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([...Object.keys(ConfigSchema.properties), ...Object.keys(RouteSchema.properties)]);

export type Config = Static<typeof ConfigSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type UpstreamConfig = Static<typeof UpstreamSchema>;
export type ServerConfig = Static<typeof ServerSchema>;
export type TlsServerConfig = Static<typeof TlsServerSchema>;
export type LoggingConfig = Static<typeof LoggingSchema>;
export type MatchConfig = Static<typeof MatchSchema>;
