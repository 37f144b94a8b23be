/**
 * The thread that reads, parses and validates a large config file for a reload (config/loader.ts):
 * one load per thread. A file that lists plugins is handed back untouched (`plugins: true`): plugin
 * modules are loaded on the main thread only, where their policies will run.
 */
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { parseConfigText } from './load.js';
import { validateConfig } from './validate.js';

interface LoadRequest {
  file: string;
  env: Record<string, string | undefined>;
}

async function load(msg: LoadRequest): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(msg.file, 'utf8');
  } catch {
    return { plugins: true }; // the main thread reports an unreadable file in its usual words
  }
  const raw = parseConfigText(text, msg.env, msg.file);
  const specs = raw['plugins'];
  if (Array.isArray(specs) && specs.length > 0) return { plugins: true };
  const r = validateConfig(raw);
  return { config: r.config, warnings: r.warnings };
}

parentPort?.on('message', (msg: LoadRequest) => {
  load(msg).then(
    (reply) => parentPort!.postMessage(reply),
    (err: unknown) =>
      parentPort!.postMessage(err instanceof ConfigError ? { problems: err.problems } : { failure: err instanceof Error ? err.message : String(err) }),
  );
});
