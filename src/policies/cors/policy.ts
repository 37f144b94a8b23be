/**
 * CORS (Fetch standard §3.2, the CORS protocol). A preflight — OPTIONS with Origin and
 * Access-Control-Request-Method — carries no credentials, so it is answered here with 204 before
 * authentication and rate limits (phase auth, order 2: after the IP filter, before API keys and JWT).
 * An origin that is not allowed gets no CORS headers at all, and a preflight from it a bare 204, as
 * Kong's cors plugin does: the browser then refuses the call, and nothing about the policy leaks.
 * Every response of the route says Vary: Origin (the answer depends on it, for caches).
 *
 * Two definitions share the code: `cors` on routes and `cors-global` at the top level (pre-route,
 * for every request, matched or not). Everything is compiled in create(); per request the hooks read
 * the Origin header, do a Set lookup and set a few fields.
 */
import { definePolicy, type LocalReply, type PolicyConfigView, type PolicyContext, type PolicyHooks, type Problems, type ResponseHead } from '../../pipeline/contract.js';
import { parseDuration } from '../../util/units.js';
import { compileOrigins, originAllowed, originProblem, varyWithOrigin } from './origins.js';
import { CorsSchema, type CorsConfig } from './schema.js';

/** Every CORS response field: on a CORS route the gateway's policy alone decides them (an upstream's own are replaced). */
const CORS_FIELDS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
] as const;

const BOTH_LEVELS = 'the top-level cors already answers every request before routing: set cors on routes (and defaults) or at the top level, not both';

/** A preflight from an origin that is not allowed: 204 and no CORS headers (onResponse adds Vary). */
const BARE_PREFLIGHT: LocalReply = Object.freeze({ status: 204 });

function createHooks(cfg: CorsConfig, name: string): PolicyHooks {
  const rules = compileOrigins(cfg.origins);
  const credentials = cfg.credentials;
  const star = rules.any && !credentials;
  const exposed = cfg.exposedHeaders.length > 0 ? cfg.exposedHeaders.join(', ') : undefined;
  const preflightHeaders: Record<string, string> = { 'access-control-allow-methods': cfg.methods.join(', ') };
  if (cfg.headers !== undefined && cfg.headers.length > 0) preflightHeaders['access-control-allow-headers'] = cfg.headers.join(', ');
  if (cfg.maxAge !== undefined) preflightHeaders['access-control-max-age'] = String(Math.floor(parseDuration(cfg.maxAge)! / 1000));
  const reflectHeaders = cfg.headers === undefined;
  // With a fixed header list the whole preflight answer is one object, made here.
  const preflight: LocalReply = Object.freeze({ status: 204, headers: Object.freeze({ ...preflightHeaders }) });

  return {
    policy: name,
    onRequest(ctx: PolicyContext) {
      if (ctx.method !== 'OPTIONS') return undefined;
      const origin = ctx.header('origin');
      if (origin === undefined || ctx.header('access-control-request-method') === undefined) return undefined; // a plain OPTIONS
      if (!originAllowed(rules, origin)) return BARE_PREFLIGHT;
      if (!reflectHeaders) return preflight;
      const asked = ctx.header('access-control-request-headers');
      return asked === undefined || asked === '' ? preflight : { status: 204, headers: { ...preflightHeaders, 'access-control-allow-headers': asked } };
    },
    onResponse(ctx: PolicyContext, head: ResponseHead) {
      head.set('vary', varyWithOrigin(head.get('vary')));
      // An upstream's own CORS fields go (the gateway decides them here). Without its own
      // Access-Control-Allow-Origin the others are inert to a browser, so one lookup decides.
      if (!head.local && head.get('access-control-allow-origin') !== undefined) for (const name of CORS_FIELDS) head.delete(name);
      const origin = ctx.header('origin');
      if (origin === undefined || !originAllowed(rules, origin)) return;
      head.set('access-control-allow-origin', star ? '*' : origin);
      if (credentials) head.set('access-control-allow-credentials', 'true');
      if (exposed !== undefined && !(head.local && ctx.method === 'OPTIONS')) head.set('access-control-expose-headers', exposed);
    },
  };
}

/** Field-path checks of one `cors` block (at: `routes[2].cors`). */
function check(at: string, cfg: CorsConfig | undefined, p: Problems): void {
  if (cfg === undefined) return;
  cfg.origins.forEach((o, i) => {
    const problem = originProblem(o);
    if (problem !== undefined) p.add(`${at}.origins[${i}]`, problem);
    else if (o === '*' && cfg.credentials) {
      p.add(`${at}.origins[${i}]`, '"*" cannot be combined with credentials: true (browsers refuse it); list the origins instead');
    }
  });
  if (cfg.origins.includes('*') && cfg.origins.length > 1) p.warn(`${at}.origins`, '"*" allows every origin: the other entries have no effect');
  const ms = cfg.maxAge !== undefined ? parseDuration(cfg.maxAge) : undefined;
  if (ms !== undefined && ms % 1000 !== 0) p.add(`${at}.maxAge`, `whole seconds (Access-Control-Max-Age counts seconds), got ${JSON.stringify(cfg.maxAge)}`);
}

export const corsPolicy = definePolicy({
  name: 'cors',
  phase: 'auth',
  order: 2,
  field: 'cors',
  config: CorsSchema,
  timeout: 0,
  validate(view: PolicyConfigView<CorsConfig>, p) {
    const doc = view.document as { cors?: unknown; routes?: readonly Record<string, unknown>[] };
    const global = doc.cors !== undefined;
    if (view.defaults !== undefined) {
      check('defaults.cors', view.defaults, p);
      if (global) p.add('defaults.cors', BOTH_LEVELS);
    }
    view.routes.forEach((r, i) => {
      if (doc.routes?.[i]?.['cors'] === undefined) return;
      check(`${r.at}.cors`, r.config, p);
      if (global) p.add(`${r.at}.cors`, BOTH_LEVELS);
    });
  },
  create: (cfg) => createHooks(cfg, 'cors'),
});

export const corsGlobalPolicy = definePolicy({
  name: 'cors-global',
  phase: 'pre-route',
  order: 10,
  field: 'cors',
  config: CorsSchema,
  timeout: 0,
  validate: (view: PolicyConfigView<unknown, CorsConfig>, p) => check('cors', view.global, p),
  create: (cfg) => createHooks(cfg, 'cors-global'),
});
