import { ConfigSchema } from '../config/schema.js';
import type { Command } from './command.js';

/** Fields with a default are optional for the person writing the file, though required once loaded. */
function forEditors(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forEditors);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = forEditors(v);
  const props = out['properties'] as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out['required']) && props) {
    const required = (out['required'] as string[]).filter((name) => props[name]?.default === undefined);
    if (required.length > 0) out['required'] = required;
    else delete out['required'];
  }
  return out;
}

export function jsonSchema(): Record<string, unknown> {
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...(forEditors(ConfigSchema) as Record<string, unknown>) };
}

export const schemaCommand: Command = {
  name: 'schema',
  usage: 'schema',
  summary: 'Print the config JSON Schema (gateway schema > gateway.schema.json) for editor autocompletion.',
  options: {},
  async run() {
    process.stdout.write(JSON.stringify(jsonSchema(), null, 2) + '\n');
    return 0;
  },
};
