import cluster from 'node:cluster';
import { dirname, resolve } from 'node:path';
import { Gateway } from '../gateway.js';
import { startMetricsRelay, WORKER_ENV } from '../observe/metrics/cluster.js';
import { ConfigError } from '../errors.js';
import { parseDuration } from '../util/units.js';
import { loadForCli, reportProblems } from './load.js';
import { str, type Command } from './command.js';
import { watchConfigFile, type ConfigWatcher } from '../config/watch.js';
import { joinClusterReloads, startReloadCoordinator, type PrimaryLog } from '../config/cluster-reload.js';
import pino from 'pino';

/**
 * Run one gateway in this process until SIGTERM/SIGINT, then drain and exit 0. SIGHUP (and with
 * `watch` a change of the file) reloads the config; a cluster worker takes its reloads from the primary.
 */
export async function runGateway(file: string, watch = false): Promise<number> {
  // From the first moment: a SIGHUP while starting must not end the process (its default action).
  let hupWhileStarting = false;
  const early = () => (hupWhileStarting = true);
  process.on('SIGHUP', early);
  const loaded = await loadForCli(file, true);
  if (!loaded) return 1;
  let gateway: Gateway;
  try {
    gateway = await Gateway.create({ config: loaded.config, warnings: loaded.warnings, policies: loaded.policies, configDir: dirname(resolve(file)), configFile: file });
  } catch (err) {
    // Problems only found while compiling (an unreadable key file …): same report as validation.
    if (!(err instanceof ConfigError)) throw err;
    reportProblems(file, err, true);
    return 1;
  }
  try {
    await gateway.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      // Files only read when listening (server.tls certificates): the same report as validation.
      reportProblems(file, err, true);
      await gateway.close(0);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    gateway.logger.fatal({ event: 'gateway.listen_failed', code: e.code, reason: e.message }, `cannot listen: ${e.message}`);
    await gateway.close(0);
    return 1;
  }
  let watcher: ConfigWatcher | undefined;
  if (cluster.isWorker) {
    joinClusterReloads(gateway, file);
    // The primary coordinates reloads; a SIGHUP sent to the whole process group must not end a worker.
    process.on('SIGHUP', () => gateway.logger.debug({ event: 'gateway.signal', signal: 'SIGHUP' }, 'SIGHUP ignored in a worker: the primary reloads every worker'));
  } else {
    const reload = (trigger: string) => {
      gateway.logger.info({ event: 'config.reload_requested', trigger, file }, `reloading ${file} (${trigger})`);
      gateway.reloadFromFile().catch((err: unknown) => gateway.logger.error({ event: 'config.reload_error', err }, 'config reload failed unexpectedly'));
    };
    // SIGHUP's default action ends the process: with a handler it reloads instead.
    process.on('SIGHUP', () => reload('SIGHUP'));
    if (hupWhileStarting) reload('SIGHUP');
    if (watch) watcher = await watchConfigFile(file, () => reload('watch'), gateway.logger);
  }
  process.off('SIGHUP', early);
  let signals = 0;
  const stop = (signal: string) => {
    if (signal === 'disconnect' && signals > 0) return; // the primary closing our channel while we drain
    if (++signals > 1) {
      gateway.logger.warn({ event: 'gateway.forced_exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    gateway.logger.info({ event: 'gateway.signal', signal }, `received ${signal}`);
    watcher?.close();
    // Whatever hangs (a listener whose cluster primary is gone …), the process ends after the grace period.
    setTimeout(() => process.exit(1), parseDuration(loaded.config.server.gracePeriod)! + 5000).unref();
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A cluster worker whose primary went away drains and exits instead of living on as an orphan.
  if (cluster.isWorker) process.on('disconnect', () => stop('disconnect'));
  return -1;
}

/** node:cluster primary: N workers share the port; a worker that dies is replaced, with a pause if they keep dying. */
async function runPrimary(workers: number, file: string, watch: boolean): Promise<number> {
  let stopping = false;
  let recentDeaths = 0;
  // A scrape of the shared admin port reaches one worker; it answers for all through this relay.
  startMetricsRelay();
  const fork = () => cluster.fork({ [WORKER_ENV]: '1' });
  for (let i = 0; i < workers; i++) fork();
  // Reloads: validated once here, applied by every worker (config/cluster-reload.ts).
  const logger = pino({ base: { pid: process.pid, role: 'primary' } });
  const log: PrimaryLog = (level, fields, msg) => logger[level](fields, msg);
  const reloadAll = startReloadCoordinator(file, log);
  const reload = (trigger: string) => {
    log('info', { event: 'config.reload_requested', trigger, file }, `reloading ${file} in every worker (${trigger})`);
    reloadAll().catch((err: unknown) => log('error', { event: 'config.reload_error', reason: (err as Error).message }, 'config reload failed unexpectedly'));
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const watcher = watch ? await watchConfigFile(file, () => reload('watch'), logger) : undefined;
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.error(JSON.stringify({ level: 'error', event: 'worker.exit', pid: worker.process.pid, code, signal, msg: 'worker died; starting another' }));
    if (code === 1 && recentDeaths++ > workers * 3) {
      console.error(JSON.stringify({ level: 'fatal', event: 'worker.crashloop', msg: 'workers keep dying at start; giving up' }));
      process.exit(1);
    }
    setTimeout(() => (recentDeaths = Math.max(0, recentDeaths - 1)), 10_000).unref();
    setTimeout(fork, Math.min(5000, 100 * recentDeaths));
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    watcher?.close();
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

export const startCommand: Command = {
  name: 'start',
  usage: 'start [--config gateway.yaml] [--workers N] [--watch]',
  summary: 'Start the gateway.',
  help: `
  -c, --config FILE   config file (default ./gateway.yaml)
  -w, --workers N     worker processes sharing the port (default 1). The memory rate-limit store is
                      per worker: use the Redis store for exact limits across workers.
      --watch         reload when the config file changes (also: kill -HUP, or POST /reload on
                      the admin port). An invalid file is reported and the running config stays.`,
  options: { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' }, watch: { type: 'boolean' } },
  async run(values) {
    const file = str(values['config']) ?? 'gateway.yaml';
    const workers = Number(str(values['workers']) ?? 1);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
      console.error('gateway start: --workers must be a whole number from 1 to 256');
      return 2;
    }
    if (workers > 1 && cluster.isPrimary) {
      // Validate once before forking so a bad file fails with one report, not N.
      if (!(await loadForCli(file, true))) return 1;
      return runPrimary(workers, file, values['watch'] === true);
    }
    return runGateway(file, values['watch'] === true && !cluster.isWorker);
  },
};
