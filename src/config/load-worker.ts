/**
 * The thread that reads, parses and validates a config file for a reload (config/loader.ts): for a
 * 1,000-route file that is ~100-150 ms of YAML and schema work, which on the main thread would hold
 * up every request arriving meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfigFile } from './load.js';

interface LoadRequest {
  id: number;
  file: string;
  env: Record<string, string | undefined>;
}

parentPort?.on('message', (msg: LoadRequest) => {
  loadConfigFile(msg.file, msg.env).then(
    (r) => parentPort!.postMessage({ id: msg.id, config: r.config, warnings: r.warnings }),
    (err: unknown) =>
      parentPort!.postMessage(
        err instanceof ConfigError ? { id: msg.id, problems: err.problems } : { id: msg.id, failure: err instanceof Error ? err.message : String(err) },
      ),
  );
});
