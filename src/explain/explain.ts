/**
 * `gateway explain`: one request through the offline gateway, and the why of what happened — the
 * route and its conditions (or the closest routes when none took it), the policies in order, the
 * upstream URL, and the answer the client would get.
 */
import type { CompiledRoute } from '../router/compile.js';
import type { Phase } from '../pipeline/contract.js';
import { checkAll, closestCandidates, failedConditions, type CandidateKind } from './diagnose.js';
import type { OfflineGateway, OfflineRequest, Outcome } from './offline.js';

export type OutcomeKind =
  /** The connection closed without a response. */
  | 'closed'
  /** Node's HTTP parser refused the request (400, 431) before the gateway saw it. */
  | 'unparsable'
  /** The gateway refused it before matching (bad path, duplicate Host …). */
  | 'refused-before-routing'
  /** A pre-route policy answered it. */
  | 'answered-before-routing'
  | 'no-route'
  | 'method-not-allowed'
  /** The router refused a letter-case variant of a path a more specific route takes (server.paths.caseVariants). */
  | 'case-variant'
  /** A policy of the matched route answered (a 401, a 429, a preflight 204 …), or the gateway refused it (413). */
  | 'answered'
  /** It reached the proxy step: the upstream answers. */
  | 'forwarded';

export interface PolicyStep {
  readonly name: string;
  readonly phase: Phase | 'unknown';
  /** This policy's request hook answered the request. */
  readonly answered: boolean;
}

export interface Explanation {
  readonly request: { readonly method: string; readonly url: string; readonly target: string; readonly host: string; readonly remoteAddress: string };
  /** The request as the router saw it (after normalisation and pre-route policies); absent when it never got that far. */
  readonly matchedAs: { readonly method: string; readonly host: string; readonly path: string; readonly query: string } | undefined;
  readonly outcome: {
    readonly kind: OutcomeKind;
    readonly status: number;
    readonly code: string | undefined;
    readonly detail: string | undefined;
    readonly answeredBy: string | undefined;
    readonly allow: string | undefined;
  };
  readonly route:
    | {
        readonly name: string;
        readonly position: number;
        readonly configIndex: number;
        readonly why: { readonly path: string; readonly host: string; readonly method: string; readonly headers: string };
      }
    | undefined;
  /** More specific routes whose path matched but that did not take the request. */
  readonly passedOver: readonly { readonly route: string; readonly position: number; readonly why: readonly string[] }[];
  /** When no route took the request: the nearest ones and what they lack. */
  readonly candidates: readonly { readonly route: string; readonly position: number; readonly kind: CandidateKind; readonly why: readonly string[] }[];
  readonly policies: readonly PolicyStep[];
  readonly upstream:
    | {
        readonly name: string;
        readonly balance: string;
        /** The request target with the upstream URL of every target, in config order. */
        readonly urls: readonly string[];
        /** The URL of the target the balancer picked, when the request was forwarded. */
        readonly forwardedTo: string | undefined;
      }
    | undefined;
  readonly notes: readonly string[];
  /** Warnings and errors the gateway logged for the request. */
  readonly log: readonly Record<string, unknown>[];
}

function problem(o: Outcome): { code: string | undefined; detail: string | undefined } {
  const type = o.headers['content-type'];
  if (o.status === 0) return { code: undefined, detail: o.body };
  if (typeof type !== 'string' || !type.startsWith('application/problem+json')) return { code: o.errorCode, detail: undefined };
  try {
    const p = JSON.parse(o.body) as { code?: unknown; detail?: unknown };
    return { code: typeof p.code === 'string' ? p.code : o.errorCode, detail: typeof p.detail === 'string' ? p.detail : undefined };
  } catch {
    return { code: o.errorCode, detail: undefined };
  }
}

function kindOf(o: Outcome): OutcomeKind {
  if (o.status === 0) return 'closed';
  if (!o.handled) return 'unparsable';
  if (o.route !== undefined) return o.upstream !== undefined ? 'forwarded' : 'answered';
  if (o.errorCode === 'GW_ERR_ROUTE_NOT_FOUND') return 'no-route';
  if (o.errorCode === 'GW_ERR_METHOD_NOT_ALLOWED') return 'method-not-allowed';
  if (o.answeredBy !== '') return 'answered-before-routing';
  // A path that failed normalisation was never set; one the router refused was.
  if (o.errorCode === 'GW_ERR_PATH_INVALID' && o.path !== '') return 'case-variant';
  return 'refused-before-routing';
}

/**
 * The upstream URLs for a route: what the upstream got when the request was forwarded, else what
 * forward() would build (target base path + the route's rewrite of the path, or the path a policy
 * set + the query).
 */
export function upstreamUrls(o: Outcome, route: CompiledRoute): { urls: string[]; forwardedTo: string | undefined } {
  const targets = route.upstream.targets;
  if (o.upstream !== undefined && o.target !== undefined) {
    const rest = o.upstream.path.slice(o.target.basePath.length);
    return { urls: targets.map((t) => t.origin + t.basePath + rest), forwardedTo: o.upstream.origin + o.upstream.path };
  }
  const rest = (o.upstreamPathOverride !== '' ? o.upstreamPathOverride : route.rewrite(o.path, o.params)) + o.query;
  return { urls: targets.map((t) => t.origin + t.basePath + rest), forwardedTo: undefined };
}

/** Run a request and explain it; `raw` sees the outcome itself (response and upstream header lists). */
export async function explain(gw: OfflineGateway, req: OfflineRequest, raw?: (o: Outcome) => void): Promise<Explanation> {
  const o = await gw.send(req);
  raw?.(o);
  const kind = kindOf(o);
  const { code, detail } = problem(o);
  const snapshot = gw.snapshot;
  const phases = new Map(snapshot.policies.map((p) => [p.name, p.phase] as const));
  const reachedRouter = kind === 'no-route' || kind === 'method-not-allowed' || kind === 'case-variant' || o.route !== undefined;
  const checks = reachedRouter ? checkAll(snapshot.routes, { method: o.method, host: o.host, path: o.path, headers: o.requestHeaders }) : [];
  const won = o.route !== undefined ? checks.find((c) => c.route === o.route) : undefined;

  const names = o.route !== undefined ? o.route.policies : snapshot.preRoutePolicies;
  const policies: PolicyStep[] = names.map((name) => ({ name, phase: phases.get(name) ?? 'unknown', answered: name === o.answeredBy }));

  let upstream: Explanation['upstream'];
  if (o.route !== undefined) {
    const { urls, forwardedTo } = upstreamUrls(o, o.route);
    const cfg = snapshot.config.upstreams[o.route.upstream.name];
    upstream = { name: o.route.upstream.name, balance: cfg?.balance ?? 'round-robin', urls, forwardedTo };
  }
  const allow = o.headers['allow'];
  return {
    request: { method: o.sent.method, url: req.url, target: o.sent.target, host: o.sent.host, remoteAddress: o.sent.remoteAddress },
    matchedAs: o.handled && o.path !== '' ? { method: o.method, host: o.host, path: o.path, query: o.query } : undefined,
    outcome: {
      kind,
      status: o.status,
      code,
      detail,
      answeredBy: o.answeredBy !== '' ? o.answeredBy : undefined,
      allow: typeof allow === 'string' ? allow : undefined,
    },
    route:
      won !== undefined
        ? { name: won.route.name, position: won.position, configIndex: won.route.index, why: { ...won.reasons } }
        : undefined,
    passedOver:
      won !== undefined
        ? checks.filter((c) => c.position < won.position && c.path).map((c) => ({ route: c.route.name, position: c.position, why: failedConditions(c) }))
        : [],
    candidates:
      kind === 'no-route' || kind === 'method-not-allowed' || kind === 'case-variant'
        ? closestCandidates(checks, o.path).map((c) => ({ route: c.check.route.name, position: c.check.position, kind: c.kind, why: c.why }))
        : [],
    policies,
    upstream,
    notes: gw.notes,
    log: o.log,
  };
}

const KIND_WORDS: Record<CandidateKind, string> = {
  method: 'same path, other method',
  host: 'same path, other host',
  headers: 'same path, other headers',
  path: 'nearest path',
};

/** The explanation for a person. */
export function renderExplanation(e: Explanation): string {
  const out: string[] = [];
  const r = e.request;
  out.push(`${r.method} ${r.url}`);
  out.push(`  sent as ${r.method} ${r.target} (Host: ${r.host}) from ${r.remoteAddress}`);
  if (e.matchedAs !== undefined) {
    const m = e.matchedAs;
    out.push(`  read as ${m.method} host ${JSON.stringify(m.host)} path ${m.path}${m.query !== '' ? ` query ${m.query}` : ''}`);
  }
  out.push('');
  const o = e.outcome;
  const status = `${o.status}${o.code !== undefined ? ` ${o.code}` : ''}`;
  const answer = `${status}${o.detail !== undefined ? ` (${o.detail})` : ''}`;
  switch (o.kind) {
    case 'closed':
      out.push(`No answer: ${o.detail ?? 'the connection closed'}`);
      break;
    case 'unparsable':
      out.push(`Refused by the HTTP parser before the gateway saw it: ${answer}`);
      break;
    case 'refused-before-routing':
      out.push(`Refused before routing: ${answer}`);
      break;
    case 'answered-before-routing':
      out.push(`Answered before routing by policy ${o.answeredBy} (pre-route): ${answer}`);
      break;
    case 'no-route':
    case 'method-not-allowed':
    case 'case-variant':
      out.push(
        o.kind === 'no-route'
          ? `No route matches: ${status}`
          : o.kind === 'case-variant'
            ? `Refused by the router: ${status}, the path differs only in letter case from one a more specific route takes`
            : `No route takes ${e.request.method} here: ${status}${o.allow !== undefined ? `, Allow: ${o.allow}` : ''}`,
      );
      if (e.candidates.length > 0) out.push('Closest routes:');
      for (const c of e.candidates) out.push(`  ${c.route} (#${c.position}), ${KIND_WORDS[c.kind]}: ${c.why.join('; ')}`);
      break;
    default:
      break;
  }
  if (e.route !== undefined) {
    const rt = e.route;
    out.push(`Route: ${rt.name} (#${rt.position} in match order, routes[${rt.configIndex}] in the file)`);
    out.push(`  path     ${rt.why.path}`);
    out.push(`  host     ${rt.why.host}`);
    out.push(`  method   ${rt.why.method}`);
    out.push(`  headers  ${rt.why.headers}`);
    if (e.passedOver.length > 0) {
      out.push('  passed over (more specific, same path):');
      for (const p of e.passedOver) out.push(`    ${p.route} (#${p.position}): ${p.why.join('; ')}`);
    }
  }
  out.push('');
  if (o.kind === 'unparsable' || o.kind === 'refused-before-routing') out.push('Policies: none ran (refused before them)');
  else if (e.policies.length === 0) out.push('Policies: none');
  else {
    out.push('Policies, in the order they run:');
    const width = Math.max(...e.policies.map((p) => p.name.length));
    e.policies.forEach((p, i) => out.push(`  ${i + 1}. ${p.name.padEnd(width)}  ${p.phase}${p.answered ? `   <- answered ${status}` : ''}`));
  }
  if (e.upstream !== undefined) {
    const u = e.upstream;
    out.push('');
    const forwarded = u.forwardedTo !== undefined;
    out.push(
      `Upstream: ${u.name} (${u.balance}, ${u.urls.length} target${u.urls.length === 1 ? '' : 's'})${forwarded ? '' : ', where it would go once past the policies'}:`,
    );
    for (const url of u.urls) out.push(`  ${url}`);
  }
  out.push('');
  if (o.kind === 'forwarded') out.push(`Result: forwarded to ${e.upstream?.forwardedTo ?? '?'}; the upstream answers`);
  else if (o.kind === 'answered') out.push(`Result: ${status}${o.answeredBy !== undefined ? ` from policy ${o.answeredBy}` : ''}${o.detail !== undefined ? ` (${o.detail})` : ''}`);
  else out.push(`Result: ${answer}`);
  for (const l of e.log) out.push(`log: ${String(l['msg'] ?? '')}${l['policy'] !== undefined ? ` (policy ${String(l['policy'])})` : ''}${l['event'] !== undefined ? ` [${String(l['event'])}]` : ''}`);
  for (const n of e.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}
