/** One pino logger per Gateway: JSON to standard output, written asynchronously; pretty for terminals. */
import pino, { type Logger, type DestinationStream } from 'pino';
import type { LoggingConfig } from './config/schema.js';

/** Never written, whatever a log call passes in (pino redact paths). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
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
  return pino(base, createDestination(1));
}

/**
 * Where lines go: written asynchronously (sync: false) so a request never waits on a write.
 * minLength 1 writes as eagerly as 0 but makes sonic-boom's flush(cb) wait for pending writes
 * (with 0 it calls back at once), which Gateway.close() relies on to lose no line.
 */
export function createDestination(dest: number | string): DestinationStream {
  return pino.destination({ dest, sync: false, minLength: 1 });
}
