/**
 * Load a YAML config: parse, substitute `${VAR}` / `${VAR:-default}` inside scalar values (after
 * parsing, so a secret can never inject YAML structure, and keeping the type the author wrote), then
 * validate.
 */
import { readFile } from 'node:fs/promises';
import type { TSchema } from '@sinclair/typebox';
import { isPair, isScalar, isSeq, parseDocument, Scalar, visit, type Document, type YAMLError } from 'yaml';
import { ConfigSchema } from './schema.js';
import { ConfigError } from '../errors.js';
import { dirname, resolve } from 'node:path';
import { BUILTIN_POLICIES } from '../policies/index.js';
import type { AnyPolicy } from '../pipeline/contract.js';
import { loadPlugins } from './plugins.js';
import { validateConfig, type ValidationResult } from './validate.js';

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$\{/g;
const WHOLE_VAR = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

type Env = Readonly<Record<string, string | undefined>>;

/** Path parts of a scalar (`['jwt', 'issuers', 0, 'secret']`), from the visitor's ancestors. */
function scalarPath(key: number | 'key' | 'value' | null, ancestors: readonly unknown[]): Array<string | number> {
  const out: Array<string | number> = [];
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    if (isPair(a)) out.push(isScalar(a.key) ? String(a.key.value) : String(a.key));
    else if (isSeq(a)) out.push(i + 1 < ancestors.length ? a.items.indexOf(ancestors[i + 1] as never) : Number(key));
  }
  return out;
}

function pathText(parts: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(root)';
}

/** The schemas that may hold the value at `parts` (every branch of a union). */
function schemasAt(schema: TSchema, parts: ReadonlyArray<string | number>): TSchema[] {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).flatMap((s) => schemasAt(s, parts));
  if (parts.length === 0) return [schema];
  const [head, ...rest] = parts;
  if (schema.type === 'array' && typeof head === 'number' && schema.items) return schemasAt(schema.items as TSchema, rest);
  if (schema.type === 'object' && typeof head === 'string') {
    const prop = (schema.properties as Record<string, TSchema> | undefined)?.[head];
    if (prop) return schemasAt(prop, rest);
    const pattern = Object.values((schema.patternProperties as Record<string, TSchema> | undefined) ?? {})[0];
    if (pattern) return schemasAt(pattern, rest);
  }
  return [];
}

/**
 * A value that is exactly one `${VAR}` is text, like any substitution — except where the schema
 * expects a number or boolean and no string (`port: ${PORT}`, `limit: "${LIMIT}"`): there it reads
 * as one. So a secret of digits stays the string it is, and never loses digits to a float.
 */
function typed(text: string, parts: ReadonlyArray<string | number>, plain: boolean): unknown {
  const types = new Set(schemasAt(ConfigSchema, parts).map((s) => s.type as unknown));
  // A field the built-in schema does not know (a plugin's): the YAML type as written — unquoted text
  // that reads as a number or boolean is one, quoted text stays a string.
  if (types.size === 0 && plain) types.add('number').add('boolean');
  if (types.size === 0 || types.has('string')) return text;
  if ((types.has('integer') || types.has('number')) && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/**
 * Per-request variables of header templates (src/policies/headers): `${clientIp}` in a header value
 * is the client's address, not an environment variable, so these names are left as written.
 * (`${claims.sub}`, `${params.id}` and `${env.NAME}` have a dot and never look like a variable here.)
 */
const REQUEST_VARIABLES: ReadonlySet<string> = new Set(['clientIp', 'requestId', 'consumer']);

/** Substitute `${VAR}` in one string; undefined when a variable is missing (a problem was added). */
function substitute(value: string, env: Env, problems: string[], path: string): string | undefined {
  let missing = false;
  const out = value.replace(VAR, (m, name: string | undefined, def: string | undefined) => {
    if (name === undefined) return '${'; // `$${` is a literal `${`
    if (def === undefined && REQUEST_VARIABLES.has(name)) return m;
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    missing = true;
    problems.push(`${path}: environment variable ${name} is not set (write \${${name}:-default} for a fallback)`);
    return m;
  });
  return missing ? undefined : out;
}

/**
 * Substitute `${VAR}` / `${VAR:-default}` in the scalar values of a parsed document (never in keys,
 * never as YAML text: a secret can not inject structure). What comes out is a string — a quoted
 * all-digit secret stays a string — except a value that is exactly one `${VAR}` where the schema
 * wants a number or boolean (typed()).
 */
export function substituteEnv(doc: Document, env: Env, problems: string[]): void {
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const text = node.value;
      const parts = scalarPath(key, ancestors);
      const out = substitute(text, env, problems, pathText(parts));
      if (out === undefined) return;
      node.value = WHOLE_VAR.test(text) ? typed(out, parts, node.type === Scalar.PLAIN) : out;
    },
  });
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
    if (unquotedVar) problem += '\n    inside { } or [ ], ${VAR} must be quoted: "${VAR}" (where a number or boolean is expected, a value that is all one ${VAR} still becomes one)';
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
  substituteEnv(doc, env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return doc.toJS({ maxAliasCount: 100 }) ?? {};
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
