/**
 * Reads a config file for a reload. A small file is read on the main thread, as at start (a few
 * ms). A large one is read, parsed and validated on a loader thread (load-worker.ts): for a
 * 1,000-route file (~80 KB) that work is ~100-400 ms, which on the main thread would hold up every
 * request arriving meanwhile (p99 61 -> 218 ms with a reload every second).
 *
 * The thread is kept once started, and warmed: a fresh thread spent ~350 ms importing the config
 * modules and parsed with a cold JIT (~370 ms more), so a reload took ~750 ms from POST to answer.
 * A gateway that starts with a large file starts the thread at once (prepare()); it parses a small
 * generated config a few times (~0.5 s of CPU, once) and then waits, unref'd, costing ~40 MB RSS.
 * If no thread can be had (a bundler moved the files …) or it dies, the main thread does the load.
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

/** The loader thread's young generation (V8's default is sized for a busy main thread). */
const YOUNG_GENERATION_MB = 4;

/** What the loader thread answers (load-worker.ts). */
export interface LoaderReply {
  id?: number;
  config?: Config;
  warnings?: string[];
  problems?: string[];
  failure?: string;
  /** The file lists plugins (or could not be read): load it on the main thread. */
  plugins?: boolean;
  /** The answer to a warm-up. */
  warmed?: boolean;
}

/** Whether a file is large enough for the loader thread (0 when it cannot be read). */
export async function fileSize(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

/**
 * The loader thread. Run from source (tests under tsx), a thread does not inherit tsx's module
 * hooks: it registers them itself before it loads the .ts sibling.
 */
function startThread(): Worker {
  // A small young generation: the thread idles most of its life, and V8 keeps what it grew.
  const options = { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./load-worker.js', import.meta.url), options);
  const url = new URL('./load-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, { ...options, eval: true });
}

export class ConfigLoader {
  private broken = false;
  private closed = false;
  private thread: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: LoaderReply | undefined) => void>();

  /** Start and warm the loader thread ahead of the first reload (a gateway started with a large file). */
  prepare(): void {
    const w = this.worker();
    if (w !== undefined) void this.ask(w, { warm: true });
  }

  /** `base`: the registry before the file's own plugins (the built-ins, plus a library user's policies). */
  async load(file: string, env: Env, base: readonly AnyPolicy[] = BUILTIN_POLICIES): Promise<ValidationResult> {
    const size = await fileSize(file);
    // The thread knows only the built-ins: policy objects a library user passed cannot cross to it.
    if (size < THREAD_THRESHOLD_BYTES || base !== BUILTIN_POLICIES) return loadConfigFile(file, env, base);
    const w = this.worker();
    const reply = w === undefined ? undefined : await this.ask(w, { file, env: { ...env } });
    if (reply === undefined || reply.plugins === true) {
      if (this.closed) throw new Error('the gateway is closing');
      return loadConfigFile(file, env);
    }
    if (reply.config !== undefined) {
      return { config: deepFreeze(reply.config), warnings: reply.warnings ?? [], policies: BUILTIN_POLICIES };
    }
    if (reply.problems !== undefined) throw new ConfigError(reply.problems);
    throw new Error(reply.failure ?? 'config loader failed');
  }

  /** The kept thread's id, undefined when there is none (for tests and diagnostics). */
  get threadId(): number | undefined {
    return this.thread?.threadId;
  }

  async close(): Promise<void> {
    this.broken = true;
    this.closed = true;
    const w = this.thread;
    this.thread = undefined;
    this.settleAll();
    if (w !== undefined) await w.terminate();
  }

  /** The kept thread, started on first use; undefined when threads are unavailable or the loader is closed. */
  private worker(): Worker | undefined {
    if (this.thread !== undefined) return this.thread;
    if (this.broken) return undefined;
    let w: Worker;
    try {
      w = startThread();
    } catch {
      this.broken = true;
      return undefined;
    }
    // Idle between reloads, the thread must not keep the process alive.
    w.unref();
    let answered = false;
    w.on('message', (m: LoaderReply) => {
      answered = true;
      const settle = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (settle === undefined) return;
      this.waiting.delete(m.id!);
      settle(m);
    });
    // The thread died or never started: loads waiting on it go to the main thread, the next one starts a new thread.
    const lost = (): void => {
      if (this.thread === w) this.thread = undefined;
      // One that never answered cannot start here (a bundler moved the files …): stop trying.
      if (!answered) this.broken = true;
      this.settleAll();
    };
    w.once('error', lost);
    w.once('exit', lost);
    this.thread = w;
    return w;
  }

  private ask(w: Worker, msg: Record<string, unknown>): Promise<LoaderReply | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ ...msg, id });
    });
  }

  private settleAll(): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const settle of all) settle(undefined);
  }
}
