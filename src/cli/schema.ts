import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { jsonSchema, renderJsonSchema } from '../config/json-schema.js';
import { parseConfigText } from '../config/load.js';
import { loadPlugins } from '../config/plugins.js';
import { configSchemaFor } from '../config/validate.js';
import { ConfigError } from '../errors.js';
import { BUILTIN_POLICIES } from '../policies/index.js';
import { reportProblems } from './load.js';
import { str, type Command } from './command.js';

export const schemaCommand: Command = {
  name: 'schema',
  usage: 'schema [--config FILE]',
  summary: 'Print the config JSON Schema (draft-07) for editors; the package also ships it as gateway.schema.json.',
  help: `
  -c, --config FILE   also the fields of the plugins this config lists (plugins:)

Accepts "\${VAR}" wherever the loader substitutes one. In a config file:
  # yaml-language-server: $schema=./node_modules/gatewayd/gateway.schema.json`,
  options: { config: { type: 'string', short: 'c' } },
  async run(values) {
    const file = str(values['config']);
    if (file === undefined) {
      process.stdout.write(renderJsonSchema());
      return 0;
    }
    try {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError([`${file}: cannot read the config file (${err.code ?? String(err)})`]);
      });
      const raw = parseConfigText(text, process.env, file);
      const specs = Array.isArray(raw['plugins']) ? (raw['plugins'] as unknown[]) : [];
      const policies = specs.length > 0 ? await loadPlugins(specs, dirname(resolve(file)), BUILTIN_POLICIES) : BUILTIN_POLICIES;
      process.stdout.write(JSON.stringify(jsonSchema(configSchemaFor(policies)), null, 2) + '\n');
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      reportProblems(file, err, false);
      return 1;
    }
  },
};
