/** One pino logger per Gateway: JSON to standard output, written asynchronously; pretty for terminals. */
import cluster from 'node:cluster';
import { fstatSync } from 'node:fs';
import pino, { type Logger, type DestinationStream } from 'pino';
import type { LoggingConfig } from './config/schema.js';
import { missingPackageProblems } from './config/optional-packages.js';
import { ConfigError } from './errors.js';

/** Never written, whatever a log call passes in (pino redact paths). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'req.headers["x-api-key"]',
  'headers["x-api-key"]',
  'token',
  'authorization',
];

export interface LoggerOptions {
  /** Where lines go (tests capture them); standard output when absent. */
  destination?: DestinationStream;
}

export function createLogger(cfg: LoggingConfig, opts: LoggerOptions = {}): Logger {
  const base: pino.LoggerOptions = {
    level: cfg.level,
    base: { pid: process.pid },
    // Epoch milliseconds (pino's default): formatting an ISO date on every line costs ~1 µs, a
    // quarter of the access log's budget; pino-pretty and log pipelines render it.
    timestamp: pino.stdTimeFunctions.epochTime,
    redact: { paths: [...REDACT_PATHS, ...cfg.redactHeaders.map((h) => `headers["${h.toLowerCase()}"]`)], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (cfg.format === 'pretty') {
    // pino loads the transport in a worker thread, where a missing package is an unhandled error.
    const missing = missingPackageProblems({ logging: cfg });
    if (missing.length > 0) throw new ConfigError(missing);
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: process.stdout.isTTY,
          translateTime: 'SYS:HH:MM:ss.l',
          // Access lines carry no msg (it would cost every line a string): give humans one here.
          messageFormat: '{if method}{method} {path} → {status} in {durationMs} ms{end}{msg}',
        },
      },
    });
  }
  return pino(base, createDestination(1, { pipeSafe: cluster.isWorker && isPipe(1) }));
}

/** A pipe or socket (where writes of more than PIPE_BUF bytes by several processes may interleave). */
function isPipe(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** Linux's PIPE_BUF: a write of at most this many bytes to a pipe is never interleaved with another. */
export const PIPE_BUF = 4096;

/**
 * Split a batch of whole lines into pieces of at most `max` bytes, each ending at a line end (a
 * single line longer than `max` is one piece of its own).
 */
export function lineChunks(batch: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < batch.length) {
    let end = Math.min(start + max, batch.length);
    if (end < batch.length) {
      const nl = batch.lastIndexOf(10, end - 1);
      if (nl >= start) end = nl + 1;
      else {
        const next = batch.indexOf(10, end);
        end = next < 0 ? batch.length : next + 1;
      }
    }
    out.push(batch.subarray(start, end));
    start = end;
  }
  return out;
}

export interface DestinationOptions {
  /**
   * Hand lines to the destination in writes of at most PIPE_BUF bytes, cut at line ends: for
   * `--workers` processes sharing one pipe as standard output (a container runtime, journald),
   * where larger writes of two processes can interleave inside a line.
   */
  pipeSafe?: boolean;
}

/** Log lines held in memory while the destination cannot keep up; past this, new lines are dropped. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Lines are written in batches of up to this many bytes … */
const BATCH_BYTES = 256 * 1024;
/** … or this long after the first line of a batch, whichever comes first. */
const BATCH_MS = 100;

type Boom = ReturnType<typeof pino.destination>;

/** Destinations with lines not yet handed to sonic-boom, flushed when the process exits. */
const live = new Set<WeakRef<LineDestination>>();
let exitHook = false;
function flushAllOnExit(): void {
  for (const ref of live) {
    try {
      ref.deref()?.flushSync();
    } catch {
      // exiting anyway: a line that cannot be written is lost, the exit must not fail
    }
  }
}

/**
 * Where lines go: written asynchronously (sync: false, by sonic-boom) so a request never waits on a
 * write, in batches of up to 256 KiB or 100 ms, as nginx's `access_log … buffer= flush=` does.
 *
 * Why batches: each asynchronous write costs a hand-off to a libuv thread and back, whatever its
 * size. Measured with the access log on at ~20k req/s (node --cpu-prof, bench/scenarios/observed.yaml
 * writing to a file): a write per event-loop turn took 4.5% of the gateway's CPU, 32 KiB batches
 * 1.8%, 256 KiB batches 0.5%.
 * Why bytes: a batch is encoded once, here, and handed to sonic-boom in its buffer mode. In its utf8
 * mode sonic-boom measures every string (Buffer.byteLength), lets fs.write encode it, then encodes it
 * again after the write (Buffer.from, to slice off what was written): three passes over each line.
 *
 * A line waits at most BATCH_MS; flush() (Gateway.close()) and process exit write what is pending.
 * At most MAX_PENDING_BYTES wait for a slow or stuck destination (a full disk, a reader that
 * stopped reading standard output): then batches are dropped, counted and reported on standard
 * error, rather than the gateway growing without bound. A destination error never crashes the
 * gateway (a closed pipe ends logging, as pino does; other errors are reported and writing goes on
 * with the next batch).
 */
export class LineDestination implements DestinationStream {
  private readonly boom: Boom;
  private readonly ref = new WeakRef(this);
  /** Lines not yet handed to sonic-boom, already encoded: slab[0, used). */
  private slab: Buffer | undefined = undefined;
  private used = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Batches dropped since the last report. */
  private dropped = 0;
  private dropReport: NodeJS.Timeout | undefined = undefined;
  private readonly writeBatch = (): void => {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.used === 0) return;
    const batch = this.slab!.subarray(0, this.used);
    this.slab = undefined; // sonic-boom holds on to it until written: the next line gets a new slab
    this.used = 0;
    if (this.pipeSafe) for (const piece of lineChunks(batch, PIPE_BUF)) this.hand(piece);
    else this.hand(batch);
  };
  private readonly pipeSafe: boolean;

  constructor(dest: number | string, opts: DestinationOptions = {}) {
    this.pipeSafe = opts.pipeSafe === true;
    // minLength 1 writes whatever is handed over at once, and makes flush(cb) wait until it is out.
    // maxWrite: how much of what waits sonic-boom joins into one write (pipe-safe: one piece each).
    const maxWrite = this.pipeSafe ? PIPE_BUF : 4 * BATCH_BYTES;
    this.boom = pino.destination({ dest, sync: false, minLength: 1, maxWrite, maxLength: MAX_PENDING_BYTES, contentMode: 'buffer' });
    this.boom.on('drop', () => this.onDrop());
    this.boom.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') return; // pino's own listener has switched the stream off
      process.stderr.write(`gateway: log destination failed (${err.code ?? err.message}); writing goes on with the next batch\n`);
    });
    for (const ref of live) if (ref.deref() === undefined) live.delete(ref);
    live.add(this.ref);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', flushAllOnExit);
    }
  }

  /**
   * Encode the line into the current batch at once (so no string outlives the request that made
   * it: a batch kept as a string would be copied by every young-generation GC until written).
   */
  write(line: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    const slab = this.reserve(line.length * 3);
    if (slab === undefined) {
      this.writeBatch();
      this.hand(Buffer.from(line, 'utf8')); // a line larger than a batch goes alone, after the pending ones
      return;
    }
    this.commit(this.used + slab.write(line, this.used));
  }

  /**
   * Room for up to `max` bytes at the end of the current batch, for a writer that encodes its lines
   * itself (the access log): write into the returned buffer from `offset`, then commit(end).
   * Undefined when `max` exceeds a batch: use write().
   */
  reserve(max: number): Buffer | undefined {
    if (max > BATCH_BYTES) return undefined;
    if (this.slab !== undefined && this.used + max > this.slab.length) this.writeBatch();
    return (this.slab ??= Buffer.allocUnsafeSlow(BATCH_BYTES));
  }

  /** Where the next line starts in the buffer reserve() returned. */
  get offset(): number {
    return this.used;
  }

  /** The bytes up to `end` of the buffer reserve() returned are a line (or several). */
  commit(end: number): void {
    this.used = end;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.writeBatch, BATCH_MS);
      this.timer.unref();
    }
  }

  private hand(bytes: Buffer): void {
    // sonic-boom's typings know strings only; in buffer mode it takes Buffers.
    this.boom.write(bytes as unknown as string);
  }

  /** Write what is pending now; cb runs once all of it is written. */
  flush(cb?: (err?: Error) => void): void {
    this.writeBatch();
    if ((this.boom as unknown as { fd: number }).fd < 0) {
      // A file still being opened: sonic-boom's buffer mode cannot flush before it is ready.
      const onReady = (): void => {
        this.boom.off('error', onError);
        setImmediate(() => this.flush(cb)); // not inside 'ready': sonic-boom starts its own write after it
      };
      const onError = (err: Error): void => {
        this.boom.off('ready', onReady);
        cb?.(err);
      };
      this.boom.once('ready', onReady);
      this.boom.once('error', onError);
      return;
    }
    this.boom.flush(cb);
  }

  flushSync(): void {
    this.writeBatch();
    this.boom.flushSync();
  }

  end(): void {
    this.writeBatch();
    live.delete(this.ref);
    this.boom.end();
  }

  private onDrop(): void {
    this.dropped++;
    if (this.dropReport !== undefined) return;
    this.dropReport = setTimeout(() => {
      this.dropReport = undefined;
      process.stderr.write(`gateway: log destination too slow; ${this.dropped} log batches dropped (more than ${MAX_PENDING_BYTES} bytes were waiting)\n`);
      this.dropped = 0;
    }, 1000);
    this.dropReport.unref();
  }
}

export function createDestination(dest: number | string, opts: DestinationOptions = {}): DestinationStream {
  return new LineDestination(dest, opts);
}
