/**
 * The thread that reads, parses and validates a large config file for a reload (config/loader.ts):
 * one load per thread.
 */
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfigFile } from './load.js';

interface LoadRequest {
  file: string;
  env: Record<string, string | undefined>;
}

parentPort?.on('message', (msg: LoadRequest) => {
  loadConfigFile(msg.file, msg.env).then(
    (r) => parentPort!.postMessage({ config: r.config, warnings: r.warnings }),
    (err: unknown) =>
      parentPort!.postMessage(
        err instanceof ConfigError ? { problems: err.problems } : { failure: err instanceof Error ? err.message : String(err) },
      ),
  );
});
