/**
 * The one table of errors the gateway answers itself. Codes are stable: never renamed, never reused
 * (docs/errors.md lists them and a test keeps the two in step).
 */
export const ERRORS = {
  GW_ERR_BAD_REQUEST: { status: 400, title: 'Bad Request', message: 'The request is malformed.' },
  GW_ERR_PATH_INVALID: { status: 400, title: 'Bad Request', message: 'The request path is not acceptable.' },
  GW_ERR_HEADER_DUPLICATE: { status: 400, title: 'Bad Request', message: 'A header that must appear once was sent more than once.' },
  GW_ERR_HOST_INVALID: { status: 400, title: 'Bad Request', message: 'The Host header is not a valid host[:port] (RFC 9112 §3.2).' },
  GW_ERR_HEADERS_TOO_MANY: { status: 431, title: 'Request Header Fields Too Large', message: 'The request has more header fields than the gateway accepts.' },
  GW_ERR_HOST_MISMATCH: { status: 400, title: 'Bad Request', message: 'The Host header disagrees with the absolute-form request target.' },
  GW_ERR_UPGRADE_REFUSED: { status: 400, title: 'Bad Request', message: 'This route does not accept this protocol upgrade (WebSocket needs websocket: true on the route).' },
  GW_ERR_HOST_NOT_ALLOWED: { status: 421, title: 'Misdirected Request', message: 'This listener does not answer to that Host.' },
  GW_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'Not Found', message: 'No route matches this request.' },
  GW_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed', message: 'The route does not accept this method.' },
  GW_ERR_BODY_TOO_LARGE: { status: 413, title: 'Content Too Large', message: 'The request body exceeds the route limit.' },
  GW_ERR_AUTH_MISSING: { status: 401, title: 'Unauthorized', message: 'A bearer token is required.' },
  GW_ERR_AUTH_INVALID: { status: 401, title: 'Unauthorized', message: 'The bearer token is not valid.' },
  GW_ERR_AUTH_EXPIRED: { status: 401, title: 'Unauthorized', message: 'The bearer token has expired.' },
  GW_ERR_AUTH_SCOPE: { status: 403, title: 'Forbidden', message: 'The token lacks a required scope.' },
  GW_ERR_APIKEY_MISSING: { status: 401, title: 'Unauthorized', message: 'An API key is required.' },
  GW_ERR_APIKEY_INVALID: { status: 401, title: 'Unauthorized', message: 'The API key is not valid.' },
  GW_ERR_IP_FORBIDDEN: { status: 403, title: 'Forbidden', message: 'Requests from this client address are not accepted.' },
  GW_ERR_AUTH_KEYS_UNAVAILABLE: { status: 503, title: 'Service Unavailable', message: 'The token issuer\'s keys could not be fetched yet; retry shortly.' },
  GW_ERR_RATE_LIMITED: { status: 429, title: 'Too Many Requests', message: 'Rate limit exceeded.' },
  GW_ERR_RATE_LIMIT_STORE: { status: 503, title: 'Service Unavailable', message: 'The rate limit store is unavailable.' },
  GW_ERR_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Bad Gateway', message: 'The upstream refused or reset the connection.' },
  GW_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Bad Gateway', message: 'The upstream sent an invalid response.' },
  GW_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Gateway Timeout', message: 'The upstream did not answer in time.' },
  GW_ERR_NO_HEALTHY_TARGET: { status: 503, title: 'Service Unavailable', message: 'No upstream target is available.' },
  GW_ERR_SHUTTING_DOWN: { status: 503, title: 'Service Unavailable', message: 'The gateway is shutting down.' },
  GW_ERR_POLICY_FAILED: { status: 500, title: 'Internal Server Error', message: 'A policy failed to handle the request.' },
  GW_ERR_CONFIG_INVALID: { status: 422, title: 'Unprocessable Content', message: 'The configuration is invalid; the previous one keeps serving.' },
  GW_ERR_RELOAD_FAILED: { status: 500, title: 'Internal Server Error', message: 'The reload failed; the previous configuration keeps serving.' },
  GW_ERR_INTERNAL: { status: 500, title: 'Internal Server Error', message: 'The gateway failed to handle the request.' },
} as const satisfies Record<string, { status: number; title: string; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Codes in the table that no release answers with yet (kept so they are never given another meaning). */
export const RESERVED: Partial<Record<ErrorCode, string>> = {
  GW_ERR_SHUTTING_DOWN: 'not emitted; during a drain the listener stops accepting and in-flight requests finish.',
};

/** An error the gateway answers itself: a stable code, its HTTP status and a human message. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (Allow, WWW-Authenticate, Retry-After …). */
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail?: string, headers?: Record<string, string>) {
    super(detail ?? ERRORS[code].message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = headers;
  }
}

/** Errors in configuration: one entry per problem, each naming the field path. */
export class ConfigError extends Error {
  readonly code = 'GW_ERR_CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
