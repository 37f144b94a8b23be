import { loadConfigFile } from '../config/load.js';
import type { ValidationResult } from '../config/validate.js';
import { ConfigError } from '../errors.js';

/** Load a config for a command; on problems print one line each (never a stack trace) and return undefined. */
export async function loadForCli(file: string): Promise<ValidationResult | undefined> {
  try {
    return await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
    for (const p of err.problems) console.error(`  ${p}`);
    return undefined;
  }
}
