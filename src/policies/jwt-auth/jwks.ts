/**
 * Where an issuer's keys come from. A static source (secret, PEM file, JWKS file) is imported once
 * when the config is compiled. A remote JWKS is fetched with a timeout, refreshed in the background,
 * refetched on an unknown kid at most once per cooldown (concurrent misses share one fetch), and
 * keeps serving the last good key set while the endpoint is down.
 */
import { request, type Dispatcher } from 'undici';
import type { GatewayServices } from '../../pipeline/policy.js';
import { importJwks, type KeyRecord, type VerifyRules } from './keys.js';

export interface KeySource {
  /** True once a key set is loaded (a remote source may still be waiting for its first fetch). */
  readonly ready: boolean;
  readonly records: readonly KeyRecord[];
  /** The key for this kid and algorithm right now, or undefined. */
  find(kid: string | undefined, alg: string): KeyRecord | undefined;
  /** A refetch the caller may wait for after an unknown kid; undefined while on cooldown (or static). */
  refetch(): Promise<void> | undefined;
  stop(): void;
}

function findIn(byKid: ReadonlyMap<string | undefined, KeyRecord>, records: readonly KeyRecord[], kid: string | undefined, alg: string): KeyRecord | undefined {
  if (kid !== undefined) return byKid.get(kid);
  // No kid: only unambiguous when exactly one key can verify this algorithm (trying every key would
  // multiply the cost of a forged token by the size of the set).
  let found: KeyRecord | undefined;
  for (const r of records) {
    if (!r.algorithms.has(alg)) continue;
    if (found !== undefined) return undefined;
    found = r;
  }
  return found;
}

function index(records: readonly KeyRecord[]): Map<string | undefined, KeyRecord> {
  const m = new Map<string | undefined, KeyRecord>();
  for (const r of records) if (r.kid !== undefined) m.set(r.kid, r);
  return m;
}

/** Keys fixed at compile time. With a single key (secret, PEM) the kid is not consulted. */
export function staticSource(records: readonly KeyRecord[]): KeySource {
  const byKid = index(records);
  const single = records.length === 1 && records[0]!.kid === undefined ? records[0] : undefined;
  return {
    ready: true,
    records,
    find: (kid, alg) => single ?? findIn(byKid, records, kid, alg),
    refetch: () => undefined,
    stop() {},
  };
}

export interface RemoteOptions {
  readonly issuerName: string;
  readonly uri: string;
  readonly algorithms: readonly string[];
  readonly rules: VerifyRules;
  readonly timeoutMs: number;
  readonly refreshMs: number;
  readonly cooldownMs: number;
  readonly dispatcher: Dispatcher;
  readonly services: GatewayServices;
}

/** Largest JWKS document read (a real one is a few KiB). */
const MAX_JWKS_BYTES = 1024 * 1024;

export class RemoteJwks implements KeySource {
  ready = false;
  records: KeyRecord[] = [];
  /** Fetches started (tests assert there is no stampede). */
  fetches = 0;
  private byKid = new Map<string | undefined, KeyRecord>();
  private inflight: Promise<void> | undefined;
  private lastAttempt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly opts: RemoteOptions;

  constructor(opts: RemoteOptions) {
    this.opts = opts;
  }

  /** The first fetch (its failure is logged, not thrown: the endpoint may come up later), then the refresh timer. */
  async start(): Promise<void> {
    await this.fetchNow();
    this.schedule();
  }

  find(kid: string | undefined, alg: string): KeyRecord | undefined {
    return findIn(this.byKid, this.records, kid, alg);
  }

  refetch(): Promise<void> | undefined {
    if (this.inflight) return this.inflight;
    if (this.stopped || performance.now() - this.lastAttempt < this.opts.cooldownMs) return undefined;
    return this.fetchNow();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const r of this.records) r.alive = false;
  }

  private schedule(): void {
    if (this.stopped) return;
    // Until a key set was ever loaded, retry at the cooldown pace rather than the (long) refresh interval.
    const delay = this.ready ? this.opts.refreshMs : Math.min(this.opts.cooldownMs, this.opts.refreshMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void (this.inflight ?? this.fetchNow()).then(() => this.schedule());
    }, Math.max(delay, 10));
    this.timer.unref(); // never the reason a process stays up (gateway validate compiles too)
  }

  private fetchNow(): Promise<void> {
    this.lastAttempt = performance.now();
    this.fetches++;
    const p = this.load().then(
      () => undefined,
      (err: unknown) => {
        const { services, issuerName, uri } = this.opts;
        services.metrics.jwksFetchError(issuerName);
        services.logger.warn(
          { event: 'jwks.fetch_failed', issuer: issuerName, uri, reason: (err as Error).message, keys: this.records.length },
          this.ready ? 'JWKS fetch failed; the last good key set keeps serving' : 'JWKS fetch failed; no key set yet',
        );
      },
    );
    this.inflight = p.finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async load(): Promise<void> {
    const { uri, timeoutMs, dispatcher, algorithms, rules, services, issuerName } = this.opts;
    const res = await request(uri, {
      dispatcher,
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      // A fetch every few minutes gains nothing from keep-alive, and an idle socket would hold the process open.
      reset: true,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`HTTP ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_JWKS_BYTES) {
        res.body.destroy();
        throw new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const imported = importJwks(JSON.parse(Buffer.concat(chunks).toString('utf8')), algorithms, rules);
    if (imported.skipped.length > 0) services.logger.warn({ event: 'jwks.keys_skipped', issuer: issuerName, skipped: imported.skipped }, 'JWKS keys skipped');
    // An empty set would lock everyone out: treat it as a failed fetch and keep the last good one.
    if (imported.keys.length === 0) throw new Error('no usable signing key in the JWKS');
    if (this.stopped) return;
    this.replace(imported.keys);
  }

  /** Swap in a new key set; unchanged keys keep their record (and the cached tokens they verified). */
  private replace(fresh: KeyRecord[]): void {
    const old = new Map(this.records.map((r) => [`${r.kid}|${r.fingerprint}`, r]));
    const next = fresh.map((r) => old.get(`${r.kid}|${r.fingerprint}`) ?? r);
    const kept = new Set(next);
    for (const r of this.records) if (!kept.has(r)) r.alive = false;
    this.records = next;
    this.byKid = index(next);
    this.ready = true;
  }
}
