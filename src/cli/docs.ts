import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../config/reference.js';
import { renderErrorReference } from '../errors-reference.js';
import type { Command } from './command.js';

export const docsCommand: Command = {
  name: 'docs',
  usage: 'docs [--write]',
  summary: 'Print (or with --write, regenerate docs/config.md and docs/errors.md) the references generated from the code.',
  options: { write: { type: 'boolean' } },
  async run(values) {
    if (values['write']) {
      writeFileSync('docs/config.md', renderConfigReference());
      writeFileSync('docs/errors.md', renderErrorReference());
      console.log('wrote docs/config.md and docs/errors.md');
    } else process.stdout.write(renderConfigReference());
    return 0;
  },
};
