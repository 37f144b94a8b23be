import { renderJsonSchema } from '../config/json-schema.js';
import type { Command } from './command.js';

export const schemaCommand: Command = {
  name: 'schema',
  usage: 'schema',
  summary: 'Print the config JSON Schema (draft-07) for editors; the package also ships it as gateway.schema.json.',
  help: `
Accepts "\${VAR}" wherever the loader substitutes one. In a config file:
  # yaml-language-server: $schema=./node_modules/gatewayd/gateway.schema.json`,
  options: {},
  async run() {
    process.stdout.write(renderJsonSchema());
    return 0;
  },
};
