/**
 * Validation with field-path errors: one line per problem, naming the field and what was expected,
 * never a stack trace. Defaults are applied to a copy; the caller's object is never touched.
 */
import { Kind, type TObject, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigSchema, extendConfigSchema, UpstreamSchema, type Config } from './schema.js';
import { FORMAT_HINTS } from './types.js';
import { suggest } from '../util/suggest.js';
import { ConfigError } from '../errors.js';
import { BUILTIN_POLICIES } from '../policies/index.js';
import type { AnyPolicy, Problems } from '../pipeline/contract.js';
import { policyView } from './policy-view.js';

export type { Problems } from '../pipeline/contract.js';
import { compilePathPattern } from '../router/pattern.js';
import { missingPackageProblems, type ResolvePackage } from './optional-packages.js';
import { parseDuration } from '../util/units.js';

/** `/routes/2/upstream` → `routes[2].upstream` */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(root)' : out;
}

function describe(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema[Kind] === 'Union' && Array.isArray(schema.anyOf)) {
    const lits = (schema.anyOf as TSchema[]).filter((s) => s.const !== undefined).map((s) => JSON.stringify(s.const));
    if (lits.length === schema.anyOf.length) return `one of ${lits.join(', ')}`;
  }
  if (typeof schema.format === 'string' && FORMAT_HINTS[schema.format]) return FORMAT_HINTS[schema.format]!;
  if (schema.type === 'array') return 'a list';
  if (schema.type === 'object') return 'a mapping';
  if (typeof schema.type === 'string') return `a${/^[aeiou]/.test(schema.type) ? 'n' : ''} ${schema.type}`;
  return 'a valid value';
}

/**
 * Whether a schema is, or holds somewhere below it, a secret field: marked `writeOnly: true` (the
 * JSON Schema annotation for a value that is sent but never returned: editors and ajv know it).
 */
function holdsSecret(schema: TSchema): boolean {
  if (schema['writeOnly'] === true) return true;
  const children: unknown[] = [
    ...Object.values((schema.properties as Record<string, TSchema> | undefined) ?? {}),
    ...Object.values((schema.patternProperties as Record<string, TSchema> | undefined) ?? {}),
    ...((schema.anyOf as TSchema[] | undefined) ?? []),
    schema.items,
  ];
  return children.some((c) => c !== undefined && c !== null && typeof c === 'object' && holdsSecret(c as TSchema));
}

/** A value for an error message; never a secret one (`writeOnly: true` in the schema), not even in part. */
function shown(value: unknown, schema: TSchema): string {
  if (holdsSecret(schema)) return value !== null && typeof value === 'object' ? (Array.isArray(value) ? 'a list' : 'a mapping') : `a ${typeof value} (secret, not shown)`;
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function message(e: ValueError, root: unknown): string {
  const path = fieldPath(e.path);
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = e.path.split('/').pop() ?? '';
      const parentPointer = e.path.slice(0, e.path.lastIndexOf('/'));
      const known = Object.keys((e.schema.properties as Record<string, unknown> | undefined) ?? {});
      const hint = suggest(key, known);
      void root;
      void parentPointer;
      return `${path}: unknown field${hint ? `, did you mean "${hint}"?` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return `${path}: required`;
    case ValueErrorType.StringFormat:
      return `${path}: expected ${describe(e.schema)}, got ${shown(e.value, e.schema)}`;
    case ValueErrorType.StringPattern:
      return `${path}: expected ${typeof e.schema['hint'] === 'string' ? e.schema['hint'] : `text matching ${e.schema.pattern}`}, got ${shown(e.value, e.schema)}`;
    case ValueErrorType.Union:
      return `${path}: expected ${describe(e.schema)}, got ${shown(e.value, e.schema)}`;
    case ValueErrorType.ArrayMinItems:
      return `${path}: must have at least ${e.schema.minItems} item${e.schema.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${path}: must be at least ${e.schema.minimum}, got ${shown(e.value, e.schema)}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${path}: must be at most ${e.schema.maximum}, got ${shown(e.value, e.schema)}`;
    default:
      if (e.value === undefined) return `${path}: required`;
      return `${path}: expected ${describe(e.schema)}, got ${shown(e.value, e.schema)}`;
  }
}

function problems(): Problems {
  const list: string[] = [];
  const warnings: string[] = [];
  return {
    list,
    warnings,
    add: (path, msg) => list.push(`${path}: ${msg}`),
    warn: (path, msg) => warnings.push(`${path}: ${msg}`),
  };
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Whether two listen addresses can collide on one port (equal, one a wildcard, or both loopback names). */
export function hostsOverlap(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y || WILDCARD_HOSTS.has(x) || WILDCARD_HOSTS.has(y)) return true;
  return (x === 'localhost' && LOOPBACK_NAMES.has(y)) || (y === 'localhost' && LOOPBACK_NAMES.has(x));
}

/** Listener and upstream-health rules (kept apart from the route rules below). */
function checkListenersAndHealth(config: Config, p: Problems): void {
  const { server, admin } = config;
  // Every listener needs a port of its own on its address (0 picks a free one). Two listeners may
  // share a port only on addresses that cannot collide (10.0.0.1 and 127.0.0.1).
  const listeners: (readonly [string, string, number | undefined, string])[] = [
    ['server.port', 'server.host', server.port, server.host],
    ['server.redirectHttp.port', 'server.redirectHttp.host', server.redirectHttp?.port, server.redirectHttp?.host ?? server.host],
    ['server.h2c.port', 'server.h2c.host', server.h2c?.port, server.h2c?.host ?? server.host],
    ['admin.port', 'admin.host', admin.enabled ? admin.port : undefined, admin.host],
  ];
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const [aPort, aHost, a, aAddr] = listeners[i]!;
      const [bPort, bHost, b, bAddr] = listeners[j]!;
      if (a === undefined || a === 0 || a !== b || !hostsOverlap(aAddr, bAddr)) continue;
      p.add(
        bPort,
        `${b} is also ${aPort}, on an overlapping address (${bHost} ${JSON.stringify(bAddr)}, ${aHost} ${JSON.stringify(aAddr)}): each listener needs a port of its own`,
      );
    }
  }
  const headers = parseDuration(server.headersTimeout);
  const request = parseDuration(server.requestTimeout);
  if (headers !== undefined && request !== undefined && request > 0 && headers > request) {
    p.add('server.headersTimeout', `must be at most server.requestTimeout (${server.requestTimeout}): the head is part of the request`);
  }
  for (const [name, u] of Object.entries(config.upstreams)) {
    const at = `upstreams.${/^[A-Za-z_$][\w$-]*$/.test(name) ? name : JSON.stringify(name)}`;
    const od = u.outlierDetection;
    const base = parseDuration(od.ejectionTime);
    const max = parseDuration(od.maxEjectionTime);
    if (base !== undefined && max !== undefined && max < base) p.add(`${at}.outlierDetection.maxEjectionTime`, `must be at least ejectionTime (${od.ejectionTime})`);
    const hc = u.healthCheck;
    if (hc === undefined) continue;
    const interval = parseDuration(hc.interval);
    const timeout = parseDuration(hc.timeout);
    if (interval !== undefined && interval < 100) p.add(`${at}.healthCheck.interval`, 'must be at least 100ms');
    if (interval !== undefined && timeout !== undefined && timeout > interval) p.add(`${at}.healthCheck.timeout`, `must be at most the interval (${hc.interval})`);
    if (timeout === 0) p.add(`${at}.healthCheck.timeout`, 'must be more than 0');
    hc.expectStatus.forEach((range, i) => {
      const [lo, hi] = range.split('-').map(Number);
      if (hi !== undefined && lo! > hi) p.add(`${at}.healthCheck.expectStatus[${i}]`, `the range ${range} is empty (low end above high end)`);
    });
  }
}

/** Cross-field rules the schema alone cannot say. */
function checkSemantics(config: Config, p: Problems): void {
  checkProtocols(config, p);
  checkListenersAndHealth(config, p);
  const upstreamNames = Object.keys(config.upstreams);
  const seen = new Map<string, number>();
  config.routes.forEach((route, i) => {
    const at = `routes[${i}]`;
    const prev = seen.get(route.name);
    if (prev !== undefined) p.add(`${at}.name`, `duplicate route name "${route.name}" (also routes[${prev}])`);
    else seen.set(route.name, i);
    if (!(route.upstream in config.upstreams)) {
      const hint = suggest(route.upstream, upstreamNames);
      p.add(`${at}.upstream`, `unknown upstream "${route.upstream}" (${hint ? `did you mean "${hint}"? ` : ''}known: ${upstreamNames.join(', ') || 'none'})`);
    }
    const { path, pathPrefix, hosts } = route.match;
    if ((path === undefined) === (pathPrefix === undefined)) {
      p.add(`${at}.match`, 'exactly one of path or pathPrefix is required');
    }
    let params: string[] = [];
    if (path !== undefined) {
      const compiled = compilePathPattern(path);
      if (typeof compiled === 'string') p.add(`${at}.match.path`, compiled);
      else params = compiled.params;
    }
    if (pathPrefix !== undefined && /[:*?#%\\]/.test(pathPrefix)) {
      p.add(`${at}.match.pathPrefix`, 'a prefix is literal: no parameters, wildcards, "%", "?" or "#"');
    }
    if (route.stripPrefix && pathPrefix === undefined) p.add(`${at}.stripPrefix`, 'only applies with match.pathPrefix');
    if (route.stripPrefix && route.rewrite !== undefined) p.add(`${at}.rewrite`, 'use either rewrite or stripPrefix, not both');
    if (route.rewrite !== undefined) {
      for (const m of route.rewrite.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)) {
        if (!params.includes(m[1]!)) p.add(`${at}.rewrite`, `parameter ":${m[1]}" is not in match.path`);
      }
    }
    hosts?.forEach((h, j) => {
      if (!/^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(h)) {
        p.add(`${at}.match.hosts[${j}]`, `expected a host name or *.domain, got ${JSON.stringify(h)}`);
      }
    });
  });
}

/** Listener and upstream TLS rules (issue 11). */
function checkProtocols(config: Config, p: Problems): void {
  const server = config.server;
  if (server.redirectHttp !== undefined && server.tls === undefined) p.add('server.redirectHttp', 'needs server.tls (there is no https:// listener to redirect to)');
  if (server.tls?.ciphers !== undefined && server.tls.minVersion === 'TLSv1.3') p.warn('server.tls.ciphers', 'has no effect with minVersion TLSv1.3 (TLS 1.3 suites are not set by a cipher list)');
  for (const [name, up] of Object.entries(config.upstreams)) {
    const tls = up.tls;
    if (tls === undefined) continue;
    const at = `upstreams.${name}.tls`;
    if ((tls.cert === undefined) !== (tls.key === undefined)) p.add(tls.cert === undefined ? `${at}.cert` : `${at}.key`, 'cert and key go together (mutual TLS to the upstream)');
    if (tls.insecureSkipVerify && tls.ca !== undefined) p.warn(`${at}.ca`, 'is ignored with insecureSkipVerify: true');
    up.targets.forEach((t, i) => {
      if (!t.url.startsWith('https:')) p.add(`upstreams.${name}.targets[${i}].url`, 'tls settings apply to https:// targets only: use https:// or drop upstreams.' + name + '.tls');
    });
  }
}

export interface ValidationResult {
  config: Config;
  warnings: string[];
  /** The policy registry the config was validated with (built-ins and plugins): compile with the same. */
  policies: readonly AnyPolicy[];
}

/** The schema for a policy registry: the built-in one, or it plus the fields plugins own (cached per registry). */
const schemas = new WeakMap<readonly AnyPolicy[], TObject>();
export function configSchemaFor(policies: readonly AnyPolicy[]): TObject {
  const plugins = policies.filter((p) => !BUILTIN_POLICIES.includes(p));
  if (plugins.length === 0) return ConfigSchema;
  let schema = schemas.get(policies);
  if (schema === undefined) schemas.set(policies, (schema = extendConfigSchema(plugins)));
  return schema;
}

export interface ValidateOptions {
  /** How optional packages are looked up (tests pass one that reports a package missing). */
  resolvePackage?: ResolvePackage;
}

/**
 * Validate a parsed document against the schema of the given policy registry (the built-ins unless
 * plugins are added). Throws ConfigError with every problem found; returns a frozen Config.
 */
export function validateConfig(input: unknown, policies: readonly AnyPolicy[] = BUILTIN_POLICIES, opts: ValidateOptions = {}): ValidationResult {
  const ConfigSchema = configSchemaFor(policies);
  const copy = Value.Default(ConfigSchema, structuredClone(input ?? {})) as Record<string, unknown>;
  // TypeBox does not descend into Record values when filling defaults: do the upstreams by hand.
  const ups = copy['upstreams'];
  if (ups !== null && typeof ups === 'object' && !Array.isArray(ups)) {
    for (const [name, value] of Object.entries(ups)) (ups as Record<string, unknown>)[name] = Value.Default(UpstreamSchema, value);
  }
  const p = problems();
  const seen = new Set<string>();
  for (const e of Value.Errors(ConfigSchema, copy)) {
    // A failed union reports once for itself and again for each branch: keep the first per field.
    if ([...seen].some((s) => e.path === s || e.path.startsWith(`${s}/`))) continue;
    seen.add(e.path);
    p.list.push(message(e, copy));
  }
  const config = copy as Config;
  const structural = p.list.length;
  const semantic = problems();
  try {
    // Report cross-field problems too, even when the shape is off somewhere else; a check that trips
    // over a malformed part of the tree just stops (that part was already reported).
    checkSemantics(config, semantic);
    for (const policy of policies) policy.validate?.(policyView(policy, config), semantic);
  } catch (err) {
    if (structural === 0) throw err;
  }
  for (const line of semantic.list) {
    const path = line.slice(0, line.indexOf(':'));
    if (!p.list.some((known) => known.startsWith(`${path}:`) || known.startsWith(`${path}.`) || known.startsWith(`${path}[`))) p.list.push(line);
  }
  p.warnings.push(...semantic.warnings);
  p.list.push(...missingPackageProblems(config, opts.resolvePackage));
  if (p.list.length > 0) throw new ConfigError(p.list);
  return { config: deepFreeze(config), warnings: p.warnings, policies };
}

/** Freeze a config tree (also one that crossed a thread, which structured cloning unfreezes). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
