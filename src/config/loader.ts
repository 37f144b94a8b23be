/**
 * Reads a config file for a reload. A small file is read on the main thread, as at start (a few
 * ms). A large one is read, parsed and validated on a worker thread of its own (load-worker.ts),
 * ended after the load: for a 1,000-route file (~80 KB) that work is ~100-150 ms, which on the main
 * thread would hold up every request arriving meanwhile (p99 61 -> 218 ms with a reload every
 * second). The thread is not kept between reloads: idle, with the config modules loaded, it cost
 * ~40 MB RSS. If no thread can be had (a bundler moved the files …), the main thread does it.
 */
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfigFile } from './load.js';
import { BUILTIN_POLICIES } from '../policies/index.js';
import type { AnyPolicy } from '../pipeline/contract.js';
import type { Config } from './schema.js';
import { deepFreeze, type ValidationResult } from './validate.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Files at least this large are loaded off the main thread. */
export const THREAD_THRESHOLD_BYTES = 32 * 1024;

interface Reply {
  config?: Config;
  warnings?: string[];
  problems?: string[];
  failure?: string;
  /** The file lists plugins (or could not be read): load it on the main thread. */
  plugins?: boolean;
}

export class ConfigLoader {
  private broken = false;
  private closed = false;
  private readonly threads = new Set<Worker>();

  /** `base`: the registry before the file's own plugins (the built-ins, plus a library user's policies). */
  async load(file: string, env: Env, base: readonly AnyPolicy[] = BUILTIN_POLICIES): Promise<ValidationResult> {
    const size = await stat(file).then((s) => s.size, () => 0);
    // The thread knows only the built-ins: policy objects a library user passed cannot cross to it.
    if (size < THREAD_THRESHOLD_BYTES || this.broken || base !== BUILTIN_POLICIES) return loadConfigFile(file, env, base);
    let w: Worker;
    try {
      // Run from source (tests under tsx, whose loader the thread inherits), the sibling is .ts.
      w = new Worker(new URL(import.meta.url.endsWith('.ts') ? './load-worker.ts' : './load-worker.js', import.meta.url));
    } catch {
      this.broken = true;
      return loadConfigFile(file, env);
    }
    this.threads.add(w);
    try {
      const reply = await new Promise<Reply | undefined>((resolve) => {
        w.once('message', (m: Reply) => resolve(m));
        // The thread died or never started: the main thread loads the file instead.
        w.once('error', () => resolve(undefined));
        w.once('exit', () => resolve(undefined));
        w.postMessage({ file, env: { ...env } });
      });
      if (reply === undefined || reply.plugins === true) {
        if (this.closed) throw new Error('the gateway is closing');
        return await loadConfigFile(file, env);
      }
      if (reply.config !== undefined) {
        return { config: deepFreeze(reply.config), warnings: reply.warnings ?? [], policies: BUILTIN_POLICIES };
      }
      if (reply.problems !== undefined) throw new ConfigError(reply.problems);
      throw new Error(reply.failure ?? 'config loader failed');
    } finally {
      this.threads.delete(w);
      void w.terminate();
    }
  }

  async close(): Promise<void> {
    this.broken = true;
    this.closed = true;
    await Promise.all([...this.threads].map((w) => w.terminate()));
  }
}
