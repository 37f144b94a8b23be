#!/usr/bin/env node
/** `gateway <command>`: one file per command under ./cli. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS } from './cli/commands.js';

const WIDTH = Math.max('-v, --version'.length, ...COMMANDS.map((c) => c.name.length));
const USAGE = `Usage: gateway <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(WIDTH)}  ${c.summary}`).join('\n')}

Options:
  ${'-h, --help'.padEnd(WIDTH)}  this text; "gateway <command> --help" shows a command's options
  ${'-v, --version'.padEnd(WIDTH)}  the gatewayd version`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error: the usage goes to standard error, as for an unknown command.
    console.error(USAGE);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    console.log((createRequire(import.meta.url)('../package.json') as { version: string }).version);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`gateway: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true } satisfies ParseArgsConfig);
  } catch (err) {
    console.error(`gateway ${name}: ${(err as Error).message}\n\nUsage: gateway ${command.usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(`Usage: gateway ${command.usage}\n\n${command.summary}\n${command.help ?? ''}`);
    return 0;
  }
  return command.run(parsed.values as Record<string, string | boolean | string[] | undefined>, parsed.positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code; // -1: a long-running command sets the exit code itself
  },
  (err: unknown) => {
    console.error(`gateway: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
