/**
 * Upstream pools that never connect: each dispatch is recorded (origin, path, method, headers — exactly
 * what forward() would send) and answered with an empty 200, through the same handler callbacks
 * undici uses, so the gateway's terminal step and response hooks run as they do for a real upstream.
 * A request body is read to its end first (a chunked upload over the route's limit still fails with
 * 413, as it does when undici reads it).
 */
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { PoolSet } from '../upstream/upstream.js';

export interface UpstreamCall {
  readonly origin: string;
  /** The request target the upstream would get: the target's base path, the rewritten path, the query. */
  readonly path: string;
  readonly method: string;
  /** Flat [name, value, …], as forward() passed them. */
  readonly headers: readonly string[];
  /** Request body bytes read. */
  bodyBytes: number;
}

function flatHeaders(h: Dispatcher.DispatchOptions['headers']): string[] {
  if (h === undefined || h === null) return [];
  if (Array.isArray(h)) return h.map(String);
  const out: string[] = [];
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x));
    else if (v !== undefined) out.push(k, String(v));
  }
  return out;
}

class RecordingPool extends Pool {
  readonly #origin: string;
  readonly #record: (call: UpstreamCall) => void;

  constructor(origin: string, record: (call: UpstreamCall) => void) {
    super(origin);
    this.#origin = origin;
    this.#record = record;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const call: UpstreamCall = { origin: this.#origin, path: opts.path, method: opts.method, headers: flatHeaders(opts.headers), bodyBytes: 0 };
    this.#record(call);
    let aborted: Error | undefined;
    const abort = (err?: Error) => {
      aborted ??= err ?? new Error('aborted');
    };
    const legacy = typeof handler.onRequestStart !== 'function';
    const controller: Dispatcher.DispatchController = {
      get aborted() {
        return aborted !== undefined;
      },
      get paused() {
        return false;
      },
      get reason() {
        return aborted ?? null;
      },
      abort,
      pause() {},
      resume() {},
    };
    const fail = (err: Error) => {
      if (legacy) handler.onError?.(err);
      else handler.onResponseError?.(controller, err);
    };
    const respond = () => {
      if (aborted !== undefined) return fail(aborted);
      const raw = [Buffer.from('content-length'), Buffer.from('0')];
      if (legacy) {
        handler.onHeaders?.(200, raw, () => {}, 'OK');
        handler.onComplete?.(null);
      } else {
        handler.onResponseStart?.(controller, 200, { 'content-length': '0' }, 'OK');
        handler.onResponseEnd?.(controller, {});
      }
    };
    if (legacy) handler.onConnect?.(abort);
    else handler.onRequestStart?.(controller, {});
    const body = opts.body;
    if (body instanceof Readable) {
      body.on('data', (chunk: Buffer) => {
        call.bodyBytes += chunk.length;
      });
      body.once('error', (err: Error) => fail(err));
      body.once('end', respond);
    } else {
      if (typeof body === 'string' || body instanceof Uint8Array) call.bodyBytes = Buffer.byteLength(body);
      setImmediate(respond);
    }
    return true;
  }
}

/** A PoolSet whose pools record instead of connecting. */
export class RecordingPools extends PoolSet {
  readonly #pools: Pool[] = [];
  readonly #record: (call: UpstreamCall) => void;

  constructor(record: (call: UpstreamCall) => void) {
    super();
    this.#record = record;
  }

  override acquire(origin: string, _cfg: UpstreamConfig): Pool {
    const pool = new RecordingPool(origin, this.#record);
    this.#pools.push(pool);
    return pool;
  }

  override async release(): Promise<void> {}

  override async closeAll(): Promise<void> {
    const pools = this.#pools.splice(0);
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }
}
