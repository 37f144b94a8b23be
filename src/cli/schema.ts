import { jsonSchema, renderJsonSchema } from '../config/json-schema.js';
import type { Command } from './command.js';
import { PLUGIN_HELP, PLUGIN_OPTIONS, schemaWithPlugins } from './plugin-schema.js';

export const schemaCommand: Command = {
  name: 'schema',
  usage: 'schema [--config FILE] [--plugin PATH ...]',
  summary: 'Print the config JSON Schema (draft-07) for editors; the package also ships it as gateway.schema.json.',
  help: `${PLUGIN_HELP}

Accepts "\${VAR}" wherever the loader substitutes one. In a config file:
  # yaml-language-server: $schema=./node_modules/gatewayd/gateway.schema.json`,
  options: { ...PLUGIN_OPTIONS },
  async run(values) {
    if (values['config'] === undefined && values['plugin'] === undefined) {
      process.stdout.write(renderJsonSchema());
      return 0;
    }
    const schema = await schemaWithPlugins(values, 'schema');
    if (schema === undefined) return 1;
    process.stdout.write(JSON.stringify(jsonSchema(schema), null, 2) + '\n');
    return 0;
  },
};
