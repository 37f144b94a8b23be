/**
 * Header transforms (Kong's request- and response-transformer, nginx's proxy_set_header/add_header):
 * remove, then set, then add, on the upstream request (phase transform, after authentication, so
 * claims are known) and on every response of the route. Names are checked and values compiled into
 * templates when the config is; a request resolves each value once and concatenates.
 *
 * A value that cannot be made — a referenced claim or param is absent, or it would carry CR, LF, NUL
 * or another character a header field cannot hold (RFC 9110 §5.5) — is not set, and a `set` still
 * removes the client's own copy, so a refused `X-User-Id: ${claims.sub}` can never let a
 * client-supplied X-User-Id through. A refused character is logged (headers.value_refused, naming
 * the header and the variable, never the value); the request goes on, as nginx sends no header for
 * an empty variable rather than failing the request.
 */
import { ConfigError } from '../../errors.js';
import { compilePathPattern } from '../../router/pattern.js';
import { definePolicy, type PolicyConfigView, type PolicyContext, type PolicyHooks, type Problems, type ResponseHead } from '../../pipeline/contract.js';
import { HeadersSchema, type HeaderOperations, type HeadersConfig } from './schema.js';
import { compileTemplate, resolveTemplate, type Template, type TemplateScope } from './template.js';

const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
/** Fields the gateway owns on the upstream request (RFC 9110 §7.6.1 hop-by-hop; RFC 7239; W3C trace context). */
const REQUEST_RESERVED = new Set([...HOP_BY_HOP, 'content-length', 'host', 'x-request-id', 'forwarded', 'traceparent', 'tracestate']);
/** Fields the gateway owns on the response (framing, the request id, the rate-limit fields). */
const RESPONSE_RESERVED = new Set([...HOP_BY_HOP, 'content-length', 'x-request-id']);

/** Why the gateway keeps a header to itself, or undefined when a policy may change it. */
export function reservedReason(name: string, side: 'request' | 'response', claimHeaders: ReadonlySet<string>): string | undefined {
  const n = name.toLowerCase();
  if (n.startsWith('proxy-') || HOP_BY_HOP.includes(n)) return `${name} is a hop-by-hop header (RFC 9110 §7.6.1)`;
  if (side === 'request') {
    if (REQUEST_RESERVED.has(n) || n.startsWith('x-forwarded-')) return `${name} is set by the gateway itself`;
    if (claimHeaders.has(n)) return `${name} carries a verified JWT claim (jwt.forwardClaims); change forwardClaims instead`;
  } else if (RESPONSE_RESERVED.has(n) || n.startsWith('ratelimit')) return `${name} is set by the gateway itself`;
  return undefined;
}

/** Names and templates in parallel arrays: a request indexes them, no destructuring, no iterator. */
interface Compiled {
  readonly remove: readonly string[];
  readonly setNames: readonly string[];
  readonly setValues: readonly Template[];
  readonly addNames: readonly string[];
  readonly addValues: readonly Template[];
}

function compileSide(ops: HeaderOperations | undefined, scope: TemplateScope, at: string): Compiled | undefined {
  if (ops === undefined) return undefined;
  const pairs = (rec: Record<string, string> | undefined, op: string) =>
    Object.entries(rec ?? {}).map(([name, value]) => {
      const c = compileTemplate(value, scope);
      // Only ${env.*} can fail here: everything else was validated with the config.
      if (c.problems !== undefined) throw new ConfigError(c.problems.map((m) => `${at}.${op}.${name}: ${m}`));
      return [name.toLowerCase(), c.template] as const;
    });
  const set = pairs(ops.set, 'set');
  const add = pairs(ops.add, 'add');
  const c: Compiled = {
    remove: (ops.remove ?? []).map((n) => n.toLowerCase()),
    setNames: set.map((x) => x[0]),
    setValues: set.map((x) => x[1]),
    addNames: add.map((x) => x[0]),
    addValues: add.map((x) => x[1]),
  };
  return c.remove.length + set.length + add.length > 0 ? c : undefined;
}

function refused(ctx: PolicyContext, name: string, variable: string): void {
  ctx.log.warn({ event: 'headers.value_refused', header: name, variable }, 'header value holds a character a header cannot carry; not set');
}

function applyRequest(ctx: PolicyContext, c: Compiled): void {
  for (let i = 0; i < c.remove.length; i++) ctx.removeUpstreamHeader(c.remove[i]!);
  for (let i = 0; i < c.setNames.length; i++) {
    const name = c.setNames[i]!;
    ctx.removeUpstreamHeader(name);
    const v = resolveTemplate(ctx, c.setValues[i]!);
    if (typeof v === 'string') ctx.addUpstreamHeader(name, v);
    else if (!v.missing) refused(ctx, name, v.variable);
  }
  for (let i = 0; i < c.addNames.length; i++) {
    const name = c.addNames[i]!;
    const v = resolveTemplate(ctx, c.addValues[i]!);
    if (typeof v === 'string') ctx.addUpstreamHeader(name, v);
    else if (!v.missing) refused(ctx, name, v.variable);
  }
}

function applyResponse(ctx: PolicyContext, head: ResponseHead, c: Compiled): void {
  for (let i = 0; i < c.remove.length; i++) head.delete(c.remove[i]!);
  for (let i = 0; i < c.setNames.length; i++) {
    const name = c.setNames[i]!;
    const v = resolveTemplate(ctx, c.setValues[i]!);
    if (typeof v === 'string') head.set(name, v);
    else {
      head.delete(name);
      if (!v.missing) refused(ctx, name, v.variable);
    }
  }
  for (let i = 0; i < c.addNames.length; i++) {
    const name = c.addNames[i]!;
    const v = resolveTemplate(ctx, c.addValues[i]!);
    if (typeof v === 'string') head.append(name, v);
    else if (!v.missing) refused(ctx, name, v.variable);
  }
}

function createHooks(cfg: HeadersConfig, scope: TemplateScope, at: string): PolicyHooks | undefined {
  const req = compileSide(cfg.request, scope, `${at}.request`);
  const res = compileSide(cfg.response, scope, `${at}.response`);
  if (req === undefined && res === undefined) return undefined;
  const hooks: { policy: string; onRequest?: PolicyHooks['onRequest']; onResponse?: PolicyHooks['onResponse'] } = { policy: 'headers' };
  // Only the hooks a side needs: a response-only transform adds nothing to the request chain.
  if (req !== undefined) hooks.onRequest = (ctx) => applyRequest(ctx, req);
  if (res !== undefined) hooks.onResponse = (ctx, head) => applyResponse(ctx, head, res);
  return hooks;
}

/** The header names jwt.forwardClaims sends (lower-case). */
function claimHeaders(doc: Readonly<Record<string, unknown>>): Set<string> {
  const fc = (doc['jwt'] as { forwardClaims?: Record<string, string> } | undefined)?.forwardClaims ?? {};
  return new Set(Object.values(fc).map((h) => h.toLowerCase()));
}

/** Route param names as the router compiles them. */
function paramNamesOf(route: Record<string, unknown> | undefined): readonly string[] {
  const path = (route?.['match'] as { path?: string } | undefined)?.path;
  const compiled = path === undefined ? undefined : compilePathPattern(path);
  return compiled === undefined || typeof compiled === 'string' ? [] : compiled.params;
}

function check(at: string, cfg: HeadersConfig, scope: TemplateScope, claims: ReadonlySet<string>, p: Problems): void {
  for (const side of ['request', 'response'] as const) {
    const ops = cfg[side];
    if (ops === undefined) continue;
    const seen = new Map<string, string>();
    for (const op of ['remove', 'set', 'add'] as const) {
      const names = op === 'remove' ? (ops.remove ?? []) : Object.keys(ops[op] ?? {});
      names.forEach((name, i) => {
        const field = op === 'remove' ? `${at}.${side}.remove[${i}]` : `${at}.${side}.${op}.${name}`;
        const reason = reservedReason(name, side, claims);
        if (reason !== undefined) p.add(field, `cannot change ${reason}`);
        const lower = name.toLowerCase();
        if ((op === 'set' && seen.has(lower)) || (op !== 'set' && seen.get(lower) === 'set')) {
          p.add(field, `${name} is also in ${at}.${side}.${seen.get(lower)}: use one operation per header`);
        }
        if (!seen.has(lower) || op === 'set') seen.set(lower, op);
        if (op !== 'remove') {
          const c = compileTemplate((ops[op] as Record<string, string>)[name]!, scope);
          for (const problem of c.problems ?? []) p.add(field, problem);
        }
      });
    }
  }
}

export const headersPolicy = definePolicy({
  name: 'headers',
  phase: 'transform',
  order: 10,
  field: 'headers',
  config: HeadersSchema,
  timeout: 0,
  validate(view: PolicyConfigView<HeadersConfig>, p) {
    const doc = view.document as { routes?: readonly Record<string, unknown>[]; defaults?: Record<string, unknown> };
    const claims = claimHeaders(view.document);
    // defaults.headers is checked in the context of each route that inherits it (their params
    // differ); each problem is reported once, naming the route where it depends on one.
    const lines = new Set<string>();
    view.routes.forEach((r, i) => {
      if (r.config === undefined) return;
      const own = doc.routes?.[i]?.['headers'] !== undefined;
      const sink: Problems = {
        ...p,
        add(path, msg) {
          const m = own || !msg.includes('parameter') ? msg : `${msg} in ${r.at} (${r.name}), which inherits it`;
          if (!lines.has(`${path}: ${m}`)) {
            lines.add(`${path}: ${m}`);
            p.add(path, m);
          }
        },
      };
      check(own ? `${r.at}.headers` : 'defaults.headers', r.config, { paramNames: paramNamesOf(doc.routes?.[i]), env: undefined }, claims, sink);
    });
  },
  create: (cfg, services) => createHooks(cfg, { paramNames: services.route?.paramNames ?? [], env: services.env }, `routes[${services.route?.index ?? 0}].headers`),
});
