/**
 * Load a YAML config: parse, substitute `${VAR}` / `${VAR:-default}` inside string values (after
 * parsing, so a secret can never inject YAML structure), then validate.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument, type YAMLError } from 'yaml';
import { ConfigError } from '../errors.js';
import { dirname, resolve } from 'node:path';
import { BUILTIN_POLICIES } from '../policies/index.js';
import type { AnyPolicy } from '../pipeline/contract.js';
import { loadPlugins } from './plugins.js';
import { validateConfig, type ValidationResult } from './validate.js';

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$\{/g;
const WHOLE_VAR = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

type Env = Readonly<Record<string, string | undefined>>;

/** A value that was all one `${VAR}` becomes a number or boolean when it reads as one (`port: ${PORT}`). */
function coerce(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

export function substituteEnv(value: unknown, env: Env, problems: string[], path = ''): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const whole = WHOLE_VAR.exec(value);
    let missing = false;
    const out = value.replace(VAR, (m, name: string | undefined, def: string | undefined) => {
      if (name === undefined) return '${'; // `$${` is a literal `${`
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      missing = true;
      problems.push(`${path || '(root)'}: environment variable ${name} is not set (write \${${name}:-default} for a fallback)`);
      return m;
    });
    if (missing) return out;
    return whole ? coerce(out) : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, problems, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = substituteEnv(v, env, problems, path === '' ? k : `${path}.${k}`);
    }
    return out;
  }
  return value;
}

/**
 * YAML errors as problems. After the first syntax error the parser reports every later token as
 * unexpected (one `${VAR}` unquoted inside `{ }` gave 95 lines), so only the first is listed, with
 * its line, a caret under the spot and a hint for the usual cause; duplicate keys are independent
 * errors and are all listed.
 */
function yamlProblems(errors: readonly YAMLError[], text: string, source: string): string[] {
  const out: string[] = [];
  let syntax = 0;
  for (const e of errors) {
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const at = e.linePos?.[0];
    if (e.code === 'DUPLICATE_KEY' || at === undefined) {
      out.push(`${at !== undefined ? `${source}:${at.line}:${at.col}` : source}: ${what}`);
      continue;
    }
    if (syntax++ > 0) continue;
    const line = text.split(/\r?\n/)[at.line - 1] ?? '';
    // The parser stops at the `{` of an unquoted `${VAR}` inside a flow collection: point at the `$`.
    const unquotedVar = line.slice(at.col - 2, at.col) === '${';
    const col = unquotedVar ? at.col - 1 : at.col;
    let problem = `${source}:${at.line}:${col}: YAML syntax: ${what}\n    ${line}\n    ${' '.repeat(col - 1)}^`;
    if (unquotedVar) problem += '\n    inside { } or [ ], ${VAR} must be quoted: "${VAR}" (a value that is all one ${VAR} still becomes a number or boolean)';
    out.push(problem);
  }
  if (syntax > 1) out.push(`${source}: ${syntax - 1} further YAML syntax error${syntax > 2 ? 's' : ''} after the first, most likely caused by it`);
  return out;
}

/** Parse YAML text and substitute `${VAR}` in its strings (configs, route test files). Throws ConfigError. */
export function parseYamlText(text: string, env: Env = process.env, source = 'config'): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(yamlProblems(doc.errors, text, source));
  }
  const problems: string[] = [];
  const raw = substituteEnv(doc.toJS({ maxAliasCount: 100 }) ?? {}, env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return raw;
}

/** Parse YAML text and substitute `${VAR}`: the raw document, not yet validated. Throws ConfigError. */
export function parseConfigText(text: string, env: Env = process.env, source = 'config'): Record<string, unknown> {
  const raw = parseYamlText(text, env, source);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`${source}: the top level must be a mapping (server:, upstreams:, routes: …)`]);
  }
  return raw as Record<string, unknown>;
}

/** Parse YAML text into a validated, frozen Config (built-in policies, or the registry given). Throws ConfigError listing every problem. */
export function parseConfig(text: string, env: Env = process.env, source = 'config', policies: readonly AnyPolicy[] = BUILTIN_POLICIES): ValidationResult {
  return validateConfig(parseConfigText(text, env, source), policies);
}

/**
 * Validate a raw document, first loading the plugins it lists (relative to baseDir) into the
 * registry. What library mode and the CLI share.
 */
export async function validateWithPlugins(raw: unknown, baseDir: string, base: readonly AnyPolicy[] = BUILTIN_POLICIES): Promise<ValidationResult> {
  const specs = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)['plugins'] : undefined;
  if (specs !== undefined && !Array.isArray(specs)) throw new ConfigError([`plugins: expected a list of module paths, got ${JSON.stringify(specs)}`]);
  const policies = specs !== undefined && specs.length > 0 ? await loadPlugins(specs, baseDir, base) : base;
  return validateConfig(raw, policies);
}

/** Read, parse and validate a config file, with the plugins it lists (paths relative to the file). */
export async function loadConfigFile(file: string, env: Env = process.env, base: readonly AnyPolicy[] = BUILTIN_POLICIES): Promise<ValidationResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([`${file}: cannot read the config file (${code ?? String(err)})`]);
  }
  return validateWithPlugins(parseConfigText(text, env, file), dirname(resolve(file)), base);
}
