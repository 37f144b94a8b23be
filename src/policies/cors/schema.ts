/**
 * The config the CORS policy owns: route-level `cors` (also in `defaults`), or the top-level `cors`
 * (the `cors-global` policy), which answers every request before route matching. The two modes
 * exclude each other: a preflight answered before matching never reaches a route's own policy.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Strict } from '../../config/types.js';

const HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

export const CorsSchema = Strict(
  {
    origins: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        'Origins allowed to read responses: exact (https://app.example.com, with :port when not the default), wildcard subdomains (https://*.example.com: one or more labels, same scheme and port), "null", or "*" (any origin; not with credentials).',
    }),
    methods: Type.Array(Type.String({ pattern: '^[A-Z][A-Z-]*$', hint: 'an upper-case method name' }), {
      minItems: 1,
      default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      description: 'Methods a preflight may ask for (Access-Control-Allow-Methods).',
    }),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: HEADER_NAME, hint: 'a header name' }), {
        description:
          'Request headers a preflight may ask for (Access-Control-Allow-Headers). Absent: the headers the preflight asks for are allowed (Kong\'s default).',
      }),
    ),
    credentials: Type.Boolean({ default: false, description: 'Send Access-Control-Allow-Credentials: true (cookies, Authorization). Not with origin "*".' }),
    maxAge: Type.Optional(Duration('How long a browser may cache a preflight answer (Access-Control-Max-Age, whole seconds); absent: the browser\'s default (5 s).')),
    exposedHeaders: Type.Array(Type.String({ pattern: HEADER_NAME, hint: 'a header name' }), {
      default: [],
      description: 'Response headers a page may read beyond the CORS-safelisted ones (Access-Control-Expose-Headers).',
    }),
  },
  {
    description:
      'CORS: preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered at the gateway with 204 before authentication and rate limits; responses to allowed origins get Access-Control-Allow-Origin and friends, every response Vary: Origin; an origin not allowed gets no CORS headers (a preflight from it: 204 without them, as Kong does). On a route (or in defaults) for that route; at the top level for every request before route matching (then no route may set its own).',
  },
);

export type CorsConfig = Static<typeof CorsSchema>;

export const corsRouteFields = { cors: Type.Optional(CorsSchema) };
export const corsGlobalFields = { cors: Type.Optional(CorsSchema) };
