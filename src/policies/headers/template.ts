/**
 * Header value templates, compiled once when the config is: `Bearer ${claims.sub}` becomes the parts
 * ['Bearer ', {claim: ['sub']}], so a request costs a few property reads and one concatenation — no
 * parsing, no regex, no closure. `${env.NAME}` is read at compile time and becomes literal text.
 */
import type { PolicyContext } from '../../pipeline/contract.js';

export enum Source {
  Claim,
  Param,
  ClientIp,
  RequestId,
  Consumer,
}

export interface Variable {
  readonly source: Source;
  /** Claim path (`claims.a.b` → ['a', 'b']). */
  readonly path: readonly string[];
  /** Param position in the route's paramNames. */
  readonly index: number;
  /** As written, for logs (`claims.sub`). */
  readonly text: string;
  /** Values the gateway made itself (client address, request id) need no character check. */
  readonly safe: boolean;
}

/** A constant (a string) or parts to join per request. */
export type Template = string | readonly (string | Variable)[];

export interface TemplateScope {
  readonly paramNames: readonly string[];
  /** The gateway's environment; undefined while validating (env is read when the config is compiled). */
  readonly env: Readonly<Record<string, string | undefined>> | undefined;
}

export type Compiled = { readonly template: Template; readonly problems?: undefined } | { readonly template?: undefined; readonly problems: readonly string[] };

const SIMPLE: Record<string, Source> = { clientIp: Source.ClientIp, requestId: Source.RequestId, consumer: Source.Consumer };

/** A character a header field value cannot carry (RFC 9110 §5.5: no CR, LF, NUL or other controls; Node also refuses > 0xff). */
export function badValueChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return i;
  }
  return -1;
}

/** Compile a template, or return why it is not one (the caller adds the field path). */
export function compileTemplate(text: string, scope: TemplateScope): Compiled {
  const parts: (string | Variable)[] = [];
  const problems: string[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('${', i);
    if (open === -1) {
      lit += text.slice(i);
      break;
    }
    const close = text.indexOf('}', open);
    if (close === -1) {
      problems.push(`unclosed "\${" at ${open}`);
      break;
    }
    lit += text.slice(i, open);
    const name = text.slice(open + 2, close);
    i = close + 1;
    const dot = name.indexOf('.');
    const head = dot === -1 ? name : name.slice(0, dot);
    const rest = dot === -1 ? '' : name.slice(dot + 1);
    if (dot === -1 && SIMPLE[name] !== undefined) {
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push({ source: SIMPLE[name]!, path: [], index: -1, text: name, safe: name !== 'consumer' });
    } else if (head === 'claims' && /^[^.\s]+(\.[^.\s]+)*$/.test(rest)) {
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push({ source: Source.Claim, path: rest.split('.'), index: -1, text: name, safe: false });
    } else if (head === 'params' && rest !== '') {
      const index = scope.paramNames.indexOf(rest);
      if (index === -1) {
        problems.push(`\${${name}}: the route has no :${rest} parameter${scope.paramNames.length > 0 ? ` (it has ${scope.paramNames.map((n) => ':' + n).join(', ')})` : ''}`);
        continue;
      }
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push({ source: Source.Param, path: [], index, text: name, safe: false });
    } else if (head === 'env' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) {
      const v = scope.env === undefined ? '' : scope.env[rest];
      if (v === undefined) problems.push(`\${${name}}: environment variable ${rest} is not set`);
      else if (badValueChar(v) !== -1) problems.push(`\${${name}}: the environment variable holds a character a header value cannot carry (CR, LF, NUL …)`);
      else lit += v;
    } else {
      problems.push(`unknown variable \${${name}} (known: claims.<path>, params.<name>, clientIp, requestId, consumer, env.<NAME>)`);
    }
  }
  if (problems.length > 0) return { problems };
  if (badValueChar(lit) !== -1 || parts.some((p) => typeof p === 'string' && badValueChar(p) !== -1)) {
    return { problems: ['the value holds a character a header value cannot carry (CR, LF, NUL …)'] };
  }
  if (parts.length === 0) return { template: lit };
  if (lit !== '') parts.push(lit);
  return { template: parts };
}

function claimText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return undefined;
}

function variable(ctx: PolicyContext, v: Variable): string | undefined {
  switch (v.source) {
    case Source.ClientIp:
      return ctx.clientIp;
    case Source.RequestId:
      return ctx.requestId;
    case Source.Consumer:
      return ctx.principal?.subject;
    case Source.Param:
      return ctx.params[v.index];
    case Source.Claim: {
      let cur: unknown = ctx.principal?.claims;
      for (let i = 0; i < v.path.length && cur !== undefined; i++) {
        cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[v.path[i]!] : undefined;
      }
      return claimText(cur);
    }
  }
}

/** Why a value could not be made: a referenced value is absent, or it holds a character a header cannot. */
export interface Unresolved {
  readonly missing: boolean;
  readonly variable: string;
}

/**
 * The value for this request, or an Unresolved. Only variable parts need the character check:
 * literal text was checked at compile time.
 */
export function resolveTemplate(ctx: PolicyContext, t: Template): string | Unresolved {
  if (typeof t === 'string') return t;
  if (t.length === 1) {
    // A value that is one variable (`${claims.sub}`, `${clientIp}`): no concatenation.
    const part = t[0] as Variable;
    const v = variable(ctx, part);
    if (v === undefined) return { missing: true, variable: part.text };
    return part.safe || badValueChar(v) === -1 ? v : { missing: false, variable: part.text };
  }
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const part = t[i]!;
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const v = variable(ctx, part);
    if (v === undefined) return { missing: true, variable: part.text };
    if (!part.safe && badValueChar(v) !== -1) return { missing: false, variable: part.text };
    out += v;
  }
  return out;
}
