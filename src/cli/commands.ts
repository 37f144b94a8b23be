import type { Command } from './command.js';
import { startCommand } from './start.js';
import { validateCommand } from './validate.js';
import { schemaCommand } from './schema.js';
import { demoBackendCommand } from './demo-backend.js';
import { demoCommand } from './demo.js';
import { tokenCommand } from './token.js';
import { keysCommand } from './keys.js';
import { docsCommand } from './docs.js';
import { explainCommand } from './explain.js';
import { testCommand } from './test.js';

/** Every CLI command, in the order `gateway --help` lists them. */
export const COMMANDS: readonly Command[] = [startCommand, validateCommand, explainCommand, testCommand, schemaCommand, tokenCommand, keysCommand, demoCommand, demoBackendCommand, docsCommand];
