/**
 * User policies from config: `plugins: ["./policies/tenant.js"]`. Each module default-exports a
 * definePolicy() result or a list of them (or exports `policy` / `policies`). Paths are relative to
 * the config file; other names are package names resolved from the config file's directory.
 * Every definition is checked before any config is validated against it, so a broken plugin is a
 * config problem naming `plugins[i]`, never a crash at the first request.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kind } from '@sinclair/typebox';
import { ConfigError } from '../errors.js';
import { PHASES, policyField, policyGlobalField, type AnyPolicy } from '../pipeline/contract.js';
import { RESERVED_FIELDS } from './schema.js';

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function moduleUrl(spec: string, baseDir: string): string {
  if (spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) return pathToFileURL(resolve(baseDir, spec)).href;
  if (spec.startsWith('file:')) return spec;
  return pathToFileURL(createRequire(join(baseDir, 'gateway.config.js')).resolve(spec)).href;
}

function definitionsOf(mod: Record<string, unknown>): unknown[] {
  const found = mod['default'] ?? mod['policies'] ?? mod['policy'];
  if (found === undefined) return [];
  return Array.isArray(found) ? found : [found];
}

/** Problems with one definition, each a sentence; [] when it is usable. */
export function definitionProblems(def: unknown): string[] {
  if (def === null || typeof def !== 'object') return ['is not a policy definition (use definePolicy({ name, phase, order, create }))'];
  const d = def as Partial<AnyPolicy>;
  const out: string[] = [];
  if (typeof d.name !== 'string' || !NAME.test(d.name)) out.push(`name: expected letters, digits, "_" or "-" starting with a letter, got ${JSON.stringify(d.name)}`);
  if (!PHASES.includes(d.phase as never)) out.push(`phase: expected one of ${PHASES.join(', ')}, got ${JSON.stringify(d.phase)}`);
  if (typeof d.order !== 'number' || !Number.isFinite(d.order)) out.push(`order: expected a number, got ${JSON.stringify(d.order)}`);
  if (typeof d.create !== 'function') out.push('create: expected a function (config, services) => hooks');
  for (const key of ['config', 'global'] as const) {
    const s = d[key];
    if (s !== undefined && (s === null || typeof s !== 'object' || !(Kind in s))) out.push(`${key}: expected a TypeBox schema (Type.Object(...))`);
  }
  for (const key of ['field', 'globalField'] as const) {
    const f = d[key];
    if (f !== undefined && (typeof f !== 'string' || !NAME.test(f))) out.push(`${key}: expected a field name, got ${JSON.stringify(f)}`);
  }
  if (d.timeout !== undefined && (typeof d.timeout !== 'number' || !(d.timeout >= 0))) out.push(`timeout: expected milliseconds (0 for none), got ${JSON.stringify(d.timeout)}`);
  if (d.phase === 'pre-route' && d.global !== undefined) out.push('global: a pre-route policy is configured at the top level already; use `config` only');
  for (const key of ['validate', 'setup', 'dispose', 'strippedRequestHeaders'] as const) {
    if (d[key] !== undefined && typeof d[key] !== 'function') out.push(`${key}: expected a function`);
  }
  return out;
}

/**
 * Add plugin policies to a registry, checking names and config fields against what is there.
 * `at` names each definition in problems (`plugins[0]`, `policies[1]` …).
 */
export function withPolicies(base: readonly AnyPolicy[], added: readonly { def: unknown; at: string }[]): AnyPolicy[] {
  const problems: string[] = [];
  const names = new Map<string, string>(base.map((p) => [p.name, 'a built-in policy'] as const));
  const routeFields = new Map<string, string>(base.map((p) => [policyField(p), p.name] as const));
  const topFields = new Map<string, string>(base.flatMap((p) => [[policyGlobalField(p), p.name] as const]));
  const out = [...base];
  for (const { def, at } of added) {
    const bad = definitionProblems(def);
    if (bad.length > 0) {
      for (const b of bad) problems.push(`${at}: ${b}`);
      continue;
    }
    const p = def as AnyPolicy;
    const clash = names.get(p.name);
    if (clash !== undefined) {
      problems.push(`${at}: a policy named "${p.name}" exists already (${clash})`);
      continue;
    }
    const fields: [string, Map<string, string>][] =
      p.phase === 'pre-route' ? [[policyField(p), topFields]] : [[policyField(p), routeFields], ...(p.global !== undefined ? [[policyGlobalField(p), topFields] as [string, Map<string, string>]] : [])];
    const taken = fields.find(([f, m]) => RESERVED_FIELDS.has(f) || m.has(f));
    if (taken !== undefined) {
      const owner = taken[1].get(taken[0]);
      problems.push(`${at}: config field "${taken[0]}" belongs to ${owner !== undefined ? `policy "${owner}"` : 'the gateway'}; set \`field\` to another name`);
      continue;
    }
    for (const [f, m] of fields) m.set(f, p.name);
    names.set(p.name, at);
    out.push(p);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/** Import the modules a config's `plugins` list names and add their policies to the registry. */
export async function loadPlugins(specs: readonly unknown[], baseDir: string, base: readonly AnyPolicy[]): Promise<AnyPolicy[]> {
  const added: { def: unknown; at: string }[] = [];
  const problems: string[] = [];
  for (const [i, spec] of specs.entries()) {
    const at = `plugins[${i}]`;
    if (typeof spec !== 'string' || spec === '') {
      problems.push(`${at}: expected a module path or package name, got ${JSON.stringify(spec)}`);
      continue;
    }
    let mod: Record<string, unknown>;
    try {
      mod = (await import(moduleUrl(spec, baseDir))) as Record<string, unknown>;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? 'not found' : `failed to load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      problems.push(`${at}: ${JSON.stringify(spec)} ${why}`);
      continue;
    }
    const defs = definitionsOf(mod);
    if (defs.length === 0) problems.push(`${at}: ${JSON.stringify(spec)} exports no policy (export default definePolicy({ … }))`);
    defs.forEach((def, j) => added.push({ def, at: defs.length > 1 ? `${at}[${j}]` : at }));
  }
  let registry: AnyPolicy[] = [];
  try {
    registry = withPolicies(base, added);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return registry;
}
