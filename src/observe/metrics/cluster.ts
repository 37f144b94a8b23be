/**
 * /metrics under `gateway start --workers N`: one scrape sees every worker.
 *
 * Why: the workers share the admin port, so a scrape lands on one of them. With per-worker answers
 * every counter would jump between the workers' values from one scrape to the next, and Prometheus
 * reads each drop as a counter reset: rate() goes wrong. Instead, the worker that takes the scrape
 * asks the primary, the primary asks every worker for its samples (prom-client's
 * getMetricsAsJSON), and the worker adds them up with prom-client's AggregatorRegistry.aggregate
 * (counters and histograms summed, process metrics by each one's own aggregator) and formats the
 * result as usual.
 *
 * A worker that does not answer in time fails the scrape (500) rather than leaving its counts out,
 * which would read as a reset too. A worker counts once it announced that it serves metrics, so a
 * worker still starting is not waited for.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/** One registry's samples, as getMetricsAsJSON gives them (plain data: they cross the IPC channel). */
type Samples = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const READY = 'gateway:metrics:ready';
const COLLECT = 'gateway:metrics:collect';
const RESULT = 'gateway:metrics:result';
const REQUEST = 'gateway:metrics:request';
const REPLY = 'gateway:metrics:reply';
const GONE = 'gateway:metrics:gone';

/** How long the primary waits for every worker's samples. */
const WORKER_TIMEOUT_MS = 2000;

interface Message {
  type: string;
  id: number;
  metrics?: Samples[] | Samples;
  error?: string;
}

/**
 * Sends go with a callback: without one, a send on a channel that just closed (a worker exiting)
 * is an 'error' event, and unhandled that would end the process. Such a message is simply lost.
 */
const ignore = (): void => undefined;
function toWorker(w: Worker, m: Message): void {
  w.send(m, ignore);
}
function toPrimary(m: Message): void {
  if (process.connected) process.send?.(m, undefined, undefined, ignore);
}

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as Message).type === 'string' && (m as Message).type.startsWith('gateway:metrics:');
}

/** In the primary (for its lifetime): relay scrapes between the workers. */
export function startMetricsRelay(): void {
  const serving = new Set<Worker>();
  let next = 0;
  /** relay id → the collection waiting for replies. */
  const pending = new Map<number, { waiting: Set<Worker>; got: Samples[]; done(error?: string): void }>();

  function collect(from: Worker, id: number): void {
    const relayId = next++;
    const waiting = new Set([...serving].filter((w) => w.isConnected()));
    const got: Samples[] = [];
    const timer = setTimeout(() => done(`${waiting.size} of ${got.length + waiting.size} workers did not answer within ${WORKER_TIMEOUT_MS}ms`), WORKER_TIMEOUT_MS);
    const done = (error?: string) => {
      clearTimeout(timer);
      pending.delete(relayId);
      if (from.isConnected()) toWorker(from, error === undefined ? { type: RESULT, id, metrics: got } : { type: RESULT, id, error });
    };
    pending.set(relayId, { waiting, got, done });
    if (waiting.size === 0) return done();
    for (const w of waiting) toWorker(w, { type: REQUEST, id: relayId });
  }

  const onMessage = (worker: Worker, msg: unknown): void => {
    if (!isMessage(msg)) return;
    if (msg.type === READY) serving.add(worker);
    else if (msg.type === GONE) onExit(worker);
    else if (msg.type === COLLECT) collect(worker, msg.id);
    else if (msg.type === REPLY) {
      const p = pending.get(msg.id);
      if (p === undefined || !p.waiting.delete(worker)) return; // late, after a timeout
      if (msg.error !== undefined) return p.done(`a worker failed to collect: ${msg.error}`);
      p.got.push(msg.metrics as Samples);
      if (p.waiting.size === 0) p.done();
    }
  };
  const onExit = (worker: Worker): void => {
    serving.delete(worker);
    // A worker that died mid-collection will not answer: the others' counts still add up.
    for (const p of pending.values()) if (p.waiting.delete(worker) && p.waiting.size === 0) p.done();
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
}

/** Set in the environment of the workers `gateway start --workers N` forks (whose primary relays). */
export const WORKER_ENV = 'GATEWAYD_CLUSTER_WORKER';

/** Whether this process is a worker of `gateway start --workers N`, whose primary runs startMetricsRelay. */
export function inCluster(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1' && typeof process.send === 'function';
}

/** One sample list a worker sends: NaN (event-loop lag before its first reading) does not survive JSON. */
async function samples(registry: Registry): Promise<Samples> {
  const all = await registry.getMetricsAsJSON();
  for (const m of all) m.values = m.values.filter((v) => !Number.isNaN(v.value));
  return all;
}

export interface ClusterMetrics {
  /** Every worker's metrics, added up (rejects when a worker did not answer). */
  aggregated(): Promise<Registry>;
  close(): void;
}

/** In a worker: answer the primary's requests for this registry's samples, and collect everyone's. */
export function joinClusterMetrics(registry: Registry): ClusterMetrics {
  let next = 0;
  const waiting = new Map<number, { resolve(r: Registry): void; reject(e: Error): void }>();
  const onMessage = (msg: unknown): void => {
    if (!isMessage(msg)) return;
    if (msg.type === REQUEST) {
      samples(registry).then(
        (metrics) => toPrimary({ type: REPLY, id: msg.id, metrics }),
        (err: unknown) => toPrimary({ type: REPLY, id: msg.id, error: (err as Error).message }),
      );
    } else if (msg.type === RESULT) {
      const w = waiting.get(msg.id);
      if (w === undefined) return;
      waiting.delete(msg.id);
      if (msg.error !== undefined) w.reject(new Error(msg.error));
      else w.resolve(AggregatorRegistry.aggregate(msg.metrics as Samples[]));
    }
  };
  process.on('message', onMessage);
  toPrimary({ type: READY, id: 0 });
  return {
    aggregated() {
      return new Promise<Registry>((resolve, reject) => {
        const id = next++;
        // The primary answers within WORKER_TIMEOUT_MS; this bounds a primary that is gone.
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary process did not answer'));
        }, WORKER_TIMEOUT_MS + 1000);
        waiting.set(id, {
          resolve: (r) => (clearTimeout(timer), resolve(r)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        toPrimary({ type: COLLECT, id });
      });
    },
    close() {
      process.off('message', onMessage);
      // A draining worker stops answering: the primary stops waiting for it.
      toPrimary({ type: GONE, id: 0 });
      for (const w of waiting.values()) w.reject(new Error('metrics closed'));
      waiting.clear();
    },
  };
}
