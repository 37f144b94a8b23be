import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../config/reference.js';
import { renderErrorReference } from '../errors-reference.js';
import { renderJsonSchema, SCHEMA_FILE } from '../config/json-schema.js';
import type { Command } from './command.js';
import { PLUGIN_HELP, PLUGIN_OPTIONS, schemaWithPlugins } from './plugin-schema.js';

export const docsCommand: Command = {
  name: 'docs',
  usage: 'docs [--write | --config FILE | --plugin PATH ...]',
  summary: 'Print the config reference (with plugin fields); --write regenerates docs/config.md, docs/errors.md and gateway.schema.json.',
  help: `
  --write             write the generated files (run in a checkout of gatewayd; built-in fields only)${PLUGIN_HELP}`,
  options: { write: { type: 'boolean' }, ...PLUGIN_OPTIONS },
  async run(values) {
    const plugins = values['config'] !== undefined || values['plugin'] !== undefined;
    if (values['write'] && plugins) {
      console.error('gateway docs: --write regenerates the project docs from the built-in fields; print a reference with plugins without it');
      return 2;
    }
    if (plugins) {
      const schema = await schemaWithPlugins(values, 'docs');
      if (schema === undefined) return 1;
      process.stdout.write(renderConfigReference(schema));
    } else if (values['write']) {
      writeFileSync('docs/config.md', renderConfigReference());
      writeFileSync('docs/errors.md', renderErrorReference());
      writeFileSync(SCHEMA_FILE, renderJsonSchema());
      console.log(`wrote docs/config.md, docs/errors.md and ${SCHEMA_FILE}`);
    } else process.stdout.write(renderConfigReference());
    return 0;
  },
};
