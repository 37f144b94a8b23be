import { loadConfigFile } from '../config/load.js';
import type { ValidationResult } from '../config/validate.js';
import { ConfigError } from '../errors.js';

/** Print config problems for a person: a count, then one line per problem naming the field. */
export function reportProblems(file: string, err: ConfigError, asLogLine: boolean): void {
  console.error(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
  for (const p of err.problems) console.error(`  ${p}`);
  // A server start also leaves a log line with a stable event name for log pipelines.
  if (asLogLine) {
    process.stdout.write(
      JSON.stringify({ level: 'fatal', time: Date.now(), pid: process.pid, event: 'config.invalid', code: err.code, file, problems: err.problems, msg: 'invalid configuration' }) + '\n',
    );
  }
}

/** Load a config for a command; on problems print one line each (never a stack trace) and return undefined. */
export async function loadForCli(file: string, asLogLine = false): Promise<ValidationResult | undefined> {
  try {
    return await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    reportProblems(file, err, asLogLine);
    return undefined;
  }
}
