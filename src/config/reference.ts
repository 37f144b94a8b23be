/**
 * Render the config reference (docs/config.md) from the schema, so the docs can never drift from
 * what the loader accepts. `npm run docs` rewrites the file; a test fails when it is stale.
 */
import { Kind, type TObject, type TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.js';
import { FORMAT_HINTS } from './types.js';

function typeOf(s: TSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s[Kind] === 'Union' && Array.isArray(s.anyOf)) return (s.anyOf as TSchema[]).map(typeOf).join(' \\| ');
  if (typeof s.format === 'string') return s.format;
  if (s.type === 'array') return `list of ${typeOf(s.items as TSchema)}`;
  if (s[Kind] === 'Record') return 'map';
  if (s.type === 'object') return 'object';
  return String(s.type ?? 'any');
}

function rows(schema: TSchema, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, TSchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  for (const [name, prop] of Object.entries(props)) {
    const path = `${prefix}${name}`;
    const def = prop.default !== undefined ? `\`${JSON.stringify(prop.default)}\`` : required.has(name) ? '**required**' : '';
    const desc = (prop.description ?? '') + (typeof prop.format === 'string' && FORMAT_HINTS[prop.format] ? ` (${FORMAT_HINTS[prop.format]})` : '');
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${def} | ${desc.replace(/\|/g, '\\|')} |`);
    if (prop.type === 'object' && prop.properties) rows(prop, `${path}.`, out);
    if (prop.type === 'array' && (prop.items as TSchema).type === 'object') rows(prop.items as TSchema, `${path}[].`, out);
    if (prop[Kind] === 'Record') {
      const value = Object.values((prop.patternProperties ?? {}) as Record<string, TSchema>)[0];
      if (value?.type === 'object') rows(value, `${path}.<name>.`, out);
    }
  }
}

/** The reference for the built-in fields, or for a schema with plugin fields (configSchemaFor). */
export function renderConfigReference(schema: TObject = ConfigSchema): string {
  const out: string[] = [
    '# Config reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every field of the YAML config file. Unknown fields are errors (with a "did you mean"), so a',
    'misspelt key can never silently switch a protection off. Durations are written `250ms`, `5s`, `1m`,',
    '`1h`; sizes `512kb`, `10mb`, `1gb` (binary units). Any string value may use `${VAR}` or',
    '`${VAR:-default}`. A substituted value is a string, quoted or not (an all-digit secret stays the string it is); only',
    'a value that is exactly one `${VAR}`, in a field whose type is a number or boolean (a port, a limit), reads as one.',
    'Fields marked secret (JWT secrets, the Redis URL, OTLP header values) are never shown in error messages.',
    'Inside a flow collection (`{ … }`, `[ … ]`) quote it: `{ port: "${PORT}" }` (unquoted, YAML reads its `{` as a mapping).',
    'Editors autocomplete the file with the JSON Schema from `gateway schema > gateway.schema.json`',
    '(add `# yaml-language-server: $schema=./gateway.schema.json` at the top).',
    '',
    '| field | type | default | meaning |',
    '|---|---|---|---|',
  ];
  rows(schema, '', out);
  return out.join('\n') + '\n';
}
