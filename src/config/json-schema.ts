/**
 * The config as a JSON Schema for editors and other validators (`gateway schema`, and the
 * gateway.schema.json shipped in the package). It is derived from ConfigSchema with three changes
 * for the person writing the file:
 * - fields with a default are optional (they are required only once loaded);
 * - a value that is all one `${VAR}` is accepted wherever the loader would substitute it before
 *   validating (numbers, booleans, enums, formatted and patterned strings): `port: "${PORT}"`;
 * - TypeBox-only annotations (`hint`) are left out.
 */
import { createRequire } from 'node:module';
import type { TObject } from '@sinclair/typebox';
import { ConfigSchema } from './schema.js';

/** Where the schema is published: the file shipped in the npm package, so the project controls its content. */
export const SCHEMA_FILE = 'gateway.schema.json';
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/**
 * What the loader substitutes (src/config/load.ts): a value that is all one `${VAR}` or
 * `${VAR:-default}` (it becomes a number or boolean when it reads as one), and `${VAR}` anywhere in a
 * string.
 */
export const ENV_VALUE = { type: 'string', pattern: '^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$', description: 'An environment variable, substituted when the file is loaded.' };
const ENV_IN_STRING = { type: 'string', pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}', description: 'Text with an environment variable, substituted when the file is loaded.' };

const ANNOTATIONS = ['title', 'description', 'default', 'examples'];

/** A leaf whose value a `${VAR}` string may stand for (after substitution it must still pass `node`). */
function substitutable(node: Record<string, unknown>): boolean {
  if (Array.isArray(node['anyOf'])) return (node['anyOf'] as Array<Record<string, unknown>>).every((s) => s['const'] !== undefined);
  const t = node['type'];
  if (t === 'number' || t === 'integer' || t === 'boolean') return true;
  return t === 'string' && (node['format'] !== undefined || node['pattern'] !== undefined || node['enum'] !== undefined);
}

function forEditors(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forEditors);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'hint') continue;
    // `default` and `const` are values, not schemas.
    out[k] = k === 'default' || k === 'const' || k === 'enum' ? v : forEditors(v);
  }
  const props = out['properties'] as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out['required']) && props) {
    const required = (out['required'] as string[]).filter((name) => props[name]?.default === undefined);
    if (required.length > 0) out['required'] = required;
    else delete out['required'];
  }
  if (!substitutable(out)) return out;
  const annotations: Record<string, unknown> = {};
  const value: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) (ANNOTATIONS.includes(k) ? annotations : value)[k] = v;
  const alternatives = Array.isArray(value['anyOf']) && Object.keys(value).length === 1 ? (value['anyOf'] as unknown[]) : [value];
  return { ...annotations, anyOf: [...alternatives, value['type'] === 'string' ? ENV_IN_STRING : ENV_VALUE] };
}

function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/**
 * `$id`: a URN naming this version's schema. Not a URL: the project owns no domain, and editors find
 * the file through the `$schema` path a config names (./node_modules/gatewayd/gateway.schema.json).
 */
export function schemaId(version = packageVersion()): string {
  return `urn:gatewayd:config-schema:${version}`;
}

/** The JSON Schema of the built-in config, or of a config schema extended by plugins (configSchemaFor). */
export function jsonSchema(schema: TObject = ConfigSchema): Record<string, unknown> {
  // With plugins it is a different schema: it gets no $id (the published one is the built-in schema).
  const id = schema === ConfigSchema ? { $id: schemaId() } : {};
  return { $schema: JSON_SCHEMA_DIALECT, ...id, ...(forEditors(schema) as Record<string, unknown>) };
}

/** The text of gateway.schema.json (`npm run docs` writes it; a test keeps it in step). */
export function renderJsonSchema(): string {
  return JSON.stringify(jsonSchema(), null, 2) + '\n';
}
