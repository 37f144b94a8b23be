/**
 * Reload under `gateway start --workers N`: the primary reads and validates the file once, sends
 * the validated config to every worker and collects their results; a worker that fails (a key file
 * it cannot read …) keeps its old config and the primary reports it. SIGHUP and `--watch` act on
 * the primary; `POST /reload` reaches one worker, which asks the primary to reload them all.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Gateway } from '../gateway.js';
import { ConfigError } from '../errors.js';
import { loadConfigFile } from './load.js';
import type { ReloadResult } from './reload.js';
import { validateWithPlugins } from './load.js';
import { dirname, resolve } from 'node:path';
import type { Config } from './schema.js';

const APPLY = 'gateway:reload:apply';
const APPLIED = 'gateway:reload:applied';
const ASK = 'gateway:reload:ask';
const ANSWER = 'gateway:reload:answer';
/** How long the primary waits for a worker's result. */
const WORKER_TIMEOUT_MS = 30_000;

interface Message {
  type: string;
  id: number;
  config?: unknown;
  warnings?: string[];
  result?: ReloadResult;
}

const ignore = (): void => undefined;

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as Message).type === 'string' && (m as Message).type.startsWith('gateway:reload:');
}

/** A JSON log line from the primary (it has no pino logger of its own), like the worker lines. */
export type PrimaryLog = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;

/** In the primary: reload every worker from `file`. Returns the reload function (for SIGHUP and --watch). */
export function startReloadCoordinator(file: string, log: PrimaryLog): () => Promise<ReloadResult> {
  let next = 0;
  const pending = new Map<number, (r: ReloadResult) => void>();
  let running: Promise<ReloadResult> = Promise.resolve({ ok: true, problems: [] });

  const applyTo = (w: Worker, config: Config, warnings: readonly string[]): Promise<ReloadResult> =>
    new Promise((resolve) => {
      const id = next++;
      const timer = setTimeout(() => done({ ok: false, code: 'GW_ERR_RELOAD_FAILED', problems: [`(worker ${w.process.pid}): no answer within ${WORKER_TIMEOUT_MS} ms`] }), WORKER_TIMEOUT_MS);
      const done = (r: ReloadResult) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(r);
      };
      pending.set(id, done);
      w.send({ type: APPLY, id, config, warnings: [...warnings] } satisfies Message, ignore);
    });

  const reloadAll = async (): Promise<ReloadResult> => {
    let loaded;
    try {
      loaded = await loadConfigFile(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log('error', { event: 'config.reload_failed', file, problems: err.problems }, `config reload failed with ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}; every worker keeps the previous config`);
      for (const p of err.problems) log('error', { event: 'config.problem', file }, p);
      return { ok: false, code: 'GW_ERR_CONFIG_INVALID', problems: err.problems };
    }
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const results = await Promise.all(workers.map(async (w) => ({ pid: w.process.pid, r: await applyTo(w, loaded.config, loaded.warnings) })));
    const failed = results.filter((x) => !x.r.ok);
    for (const { pid, r } of failed) {
      log('error', { event: 'config.reload_failed', file, worker: pid, problems: r.problems }, `worker ${pid} could not reload and keeps its previous config`);
    }
    const ok = results.find((x) => x.r.ok)?.r;
    if (failed.length === 0) {
      log('info', { event: 'config.reloaded', file, workers: results.length, ms: Math.max(0, ...results.map((x) => x.r.ms ?? 0)), ...ok?.diff }, `config reloaded in ${results.length} worker${results.length === 1 ? '' : 's'}`);
      return ok ?? { ok: true, problems: [] };
    }
    return {
      ok: false,
      code: failed.every((x) => x.r.code === 'GW_ERR_CONFIG_INVALID') ? 'GW_ERR_CONFIG_INVALID' : 'GW_ERR_RELOAD_FAILED',
      problems: failed.flatMap(({ pid, r }) => r.problems.map((p) => `(worker ${pid}) ${p}`)),
      ...(ok?.diff ? { diff: ok.diff } : {}),
    };
  };

  const reload = (): Promise<ReloadResult> => {
    running = running.then(reloadAll, reloadAll);
    return running;
  };

  cluster.on('message', (worker: Worker, msg: unknown) => {
    if (!isMessage(msg)) return;
    if (msg.type === APPLIED && msg.result !== undefined) pending.get(msg.id)?.(msg.result);
    else if (msg.type === ASK) {
      void reload()
        .catch((err: unknown): ReloadResult => ({ ok: false, code: 'GW_ERR_RELOAD_FAILED', problems: [`(primary): ${(err as Error).message}`] }))
        .then((result) => worker.isConnected() && worker.send({ type: ANSWER, id: msg.id, result } satisfies Message, ignore));
    }
  });
  return reload;
}

/** In a worker: apply the primary's reloads, and send POST /reload to the primary. */
export function joinClusterReloads(gateway: Gateway, file: string): void {
  let next = 0;
  const asked = new Map<number, (r: ReloadResult) => void>();
  process.on('message', (msg: unknown) => {
    if (!isMessage(msg)) return;
    if (msg.type === APPLY) {
      const apply = async (): Promise<ReloadResult> => {
        // The primary validated it; this gives the frozen Config with the same defaults, and the
        // plugins it lists loaded here (functions do not cross the IPC channel).
        const { config, warnings, policies } = await validateWithPlugins(msg.config, dirname(resolve(file)));
        return gateway.reload(config, [...(msg.warnings ?? warnings)], policies);
      };
      void apply()
        .catch((err: unknown): ReloadResult => gateway.reloadFailed(err instanceof ConfigError ? err.problems : [`(gateway): ${(err as Error).message}`]))
        .then((result) => process.connected && process.send?.({ type: APPLIED, id: msg.id, result } satisfies Message, undefined, undefined, ignore));
    } else if (msg.type === ANSWER && msg.result !== undefined) {
      asked.get(msg.id)?.(msg.result);
      asked.delete(msg.id);
    }
  });
  gateway.requestReload = () =>
    new Promise((resolve) => {
      if (!process.connected) return resolve({ ok: false, code: 'GW_ERR_RELOAD_FAILED', problems: ['(worker): the primary is gone'] });
      const id = next++;
      asked.set(id, resolve);
      process.send?.({ type: ASK, id } satisfies Message, undefined, undefined, ignore);
    });
}
