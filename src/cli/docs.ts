import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../config/reference.js';
import { renderErrorReference } from '../errors-reference.js';
import { renderJsonSchema, SCHEMA_FILE } from '../config/json-schema.js';
import type { Command } from './command.js';

export const docsCommand: Command = {
  name: 'docs',
  usage: 'docs [--write]',
  summary: 'Print the config reference; --write regenerates docs/config.md, docs/errors.md and gateway.schema.json.',
  help: `
  --write   write the generated files (run in a checkout of gatewayd)`,
  options: { write: { type: 'boolean' } },
  async run(values) {
    if (values['write']) {
      writeFileSync('docs/config.md', renderConfigReference());
      writeFileSync('docs/errors.md', renderErrorReference());
      writeFileSync(SCHEMA_FILE, renderJsonSchema());
      console.log(`wrote docs/config.md, docs/errors.md and ${SCHEMA_FILE}`);
    } else process.stdout.write(renderConfigReference());
    return 0;
  },
};
