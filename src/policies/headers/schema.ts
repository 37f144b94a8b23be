/** The config the headers policy owns: route-level `headers` (also in `defaults`). */
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../../config/types.js';

const NAME = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", hint: 'a header name' });
const VALUES = (what: string) =>
  Type.Optional(
    Type.Record(NAME, Type.String(), {
      description: `${what} Values may use \${claims.<path>}, \${params.<name>}, \${clientIp}, \${requestId}, \${consumer} and \${env.<NAME>} (see README).`,
    }),
  );

const Operations = (side: 'request' | 'response') =>
  Strict(
    {
      remove: Type.Optional(Type.Array(NAME, { description: `Header names removed from the ${side === 'request' ? 'upstream request' : 'client response'}.` })),
      set: VALUES(`Headers set on the ${side === 'request' ? 'upstream request' : 'client response'}, replacing any of the same name.`),
      add: VALUES(`Header lines added to the ${side === 'request' ? 'upstream request' : 'client response'}, next to any of the same name.`),
    },
    { description: side === 'request' ? 'Changes to the request the upstream receives (after authentication: claims are known).' : 'Changes to every response of the route (upstream and the gateway\'s own).' },
  );

export const HeadersSchema = Strict(
  {
    request: Type.Optional(Operations('request')),
    response: Type.Optional(Operations('response')),
  },
  {
    description:
      'Header changes, applied remove → set → add. Hop-by-hop headers, Content-Length, Host and the gateway\'s own (X-Request-Id, X-Forwarded-*, Forwarded, trace context, JWT claim headers, RateLimit fields) cannot be touched. A value that would carry CR, LF, NUL or another character a header cannot hold, or that names a value the request lacks, is not set (logged as headers.value_refused / skipped).',
  },
);

export type HeadersConfig = Static<typeof HeadersSchema>;
export type HeaderOperations = NonNullable<HeadersConfig['request']>;

export const headersRouteFields = { headers: Type.Optional(HeadersSchema) };
