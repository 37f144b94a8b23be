/**
 * Reads a config file for a reload off the main thread (see load-worker.ts), on one worker thread
 * the Gateway owns: started at the first reload, unref'd, terminated by close(). When a thread
 * cannot be had (a bundler moved the files …) the file is loaded on the main thread as at start.
 */
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfigFile } from './load.js';
import { deepFreeze, type ValidationResult } from './validate.js';
import type { Config } from './schema.js';

type Env = Readonly<Record<string, string | undefined>>;

interface Reply {
  id: number;
  config?: Config;
  warnings?: string[];
  problems?: string[];
  failure?: string;
}

export class ConfigLoader {
  private worker: Worker | undefined;
  private broken = false;
  private next = 0;
  private readonly pending = new Map<number, { file: string; env: Env; resolve(r: ValidationResult): void; reject(e: Error): void }>();

  async load(file: string, env: Env): Promise<ValidationResult> {
    const worker = this.thread();
    if (worker === undefined) return loadConfigFile(file, env);
    const id = this.next++;
    return new Promise<ValidationResult>((resolve, reject) => {
      this.pending.set(id, { file, env, resolve, reject });
      worker.ref(); // keep the process up while a load is under way
      worker.postMessage({ id, file, env: { ...env } });
    });
  }

  private thread(): Worker | undefined {
    if (this.worker !== undefined || this.broken) return this.worker;
    let w: Worker;
    try {
      // Run from source (tests under tsx, whose loader the thread inherits), the sibling is .ts.
      w = new Worker(new URL(import.meta.url.endsWith('.ts') ? './load-worker.ts' : './load-worker.js', import.meta.url));
    } catch {
      this.broken = true;
      return undefined;
    }
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.config !== undefined) p.resolve({ config: deepFreeze(m.config), warnings: m.warnings ?? [] });
      else if (m.problems !== undefined) p.reject(new ConfigError(m.problems));
      else p.reject(new Error(m.failure ?? 'config loader failed'));
    });
    const fail = () => {
      // The thread died (or never started): this load and later ones run on the main thread.
      this.broken = true;
      this.worker = undefined;
      for (const p of this.pending.values()) loadConfigFile(p.file, p.env).then(p.resolve, p.reject);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', () => {
      if (this.worker === w) fail();
    });
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.broken = true;
    if (w !== undefined) await w.terminate();
  }
}
