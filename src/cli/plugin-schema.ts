import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { TObject } from '@sinclair/typebox';
import { parseConfigText } from '../config/load.js';
import { loadPlugins } from '../config/plugins.js';
import { configSchemaFor } from '../config/validate.js';
import { ConfigError } from '../errors.js';
import type { AnyPolicy } from '../pipeline/contract.js';
import { BUILTIN_POLICIES } from '../policies/index.js';
import { str, type Values } from './command.js';

/** Options of the commands that describe the config (schema, docs): whose plugins to include. */
export const PLUGIN_OPTIONS = {
  config: { type: 'string', short: 'c' },
  plugin: { type: 'string', multiple: true },
} as const;

export const PLUGIN_HELP = `
  -c, --config FILE   include the fields of the policies this config's plugins: list loads
  --plugin PATH       include the fields of this plugin module's policies (repeatable)`;

/**
 * The config schema with the fields of the plugins a config lists and of --plugin modules. Only
 * the config's `plugins:` list is read (the rest may still be half written); the modules are
 * loaded and checked as `gateway start` would. On problems prints them and returns undefined.
 */
export async function schemaWithPlugins(values: Values, command: string): Promise<TObject | undefined> {
  const file = str(values['config']);
  const extra = (values['plugin'] as string[] | undefined) ?? [];
  let policies: readonly AnyPolicy[] = BUILTIN_POLICIES;
  try {
    if (file !== undefined) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new ConfigError([`${file}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
      }
      const specs = parseConfigText(text, process.env, file)['plugins'];
      if (specs !== undefined && !Array.isArray(specs)) throw new ConfigError([`plugins: expected a list of module paths, got ${JSON.stringify(specs)}`]);
      if (specs !== undefined && specs.length > 0) policies = await loadPlugins(specs, dirname(resolve(file)), policies);
    }
    if (extra.length > 0) {
      try {
        policies = await loadPlugins(extra.map((p) => resolve(p)), process.cwd(), policies);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        // Name each module as it was given on the command line, not as a config list entry.
        throw new ConfigError(err.problems.map((p) => p.replace(/^plugins\[(\d+)\]/, (_m, i: string) => `--plugin ${extra[Number(i)]}`)));
      }
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`gateway ${command}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} loading plugins`);
    for (const p of err.problems) console.error(`  ${p}`);
    return undefined;
  }
  return configSchemaFor(policies);
}
