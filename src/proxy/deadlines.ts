/**
 * The response-head and body-idle timeouts of proxied requests (`timeouts.response`, `timeouts.idle`),
 * kept by one sweep per gateway instead of undici's timers.
 *
 * Why: undici arms a timer on the upstream connection for each phase of each request. The headers
 * and body timers are its "fast timers" (for delays over 1 s): a new object per request that stays
 * in a module-wide list until a 0.5 s tick removes it. Every one of them outlives two scavenges, so
 * it is copied to the old generation: under load that was most of what the gateway promoted (17.6 MB
 * in 13 s at 12,000 req/s; 7.2 MB without them), and the old generation filled and was collected
 * (a mark-compact pause of 5–7 ms, every ~6 s) often enough to set the gateway's p99 under a
 * steady load. Here a request carries its deadline in its own fields and is linked into one list
 * (by two fields of its own, too) while it waits on the upstream: nothing is allocated per request.
 * (A Set allocated: its table is remade as entries come and go, and those tables were promoted.)
 *
 * What a deadline means (as with undici's own timers, which it replaces): the response-head time
 * counts from the moment the request is fully sent (an upload still being written cannot time out:
 * its pace is the client's, bounded by server.requestTimeout); the idle time counts from the head
 * and from each body chunk, and not while the client is too slow to take the body (backpressure
 * pauses the upstream). A deadline is checked every TICK_MS, so it fires up to that much late.
 */
import { performance } from 'node:perf_hooks';

/** How often deadlines are checked while requests wait on upstreams (ms): the timeouts' precision. */
export const TICK_MS = 25;

/** A request waiting on an upstream, as the sweep sees it (the proxy's handler). */
export interface Watched {
  /** performance.now() after which the request has timed out. */
  deadline: number;
  /** A body chunk arrived since the last sweep: the next sweep moves the deadline to now + idle. */
  touched: boolean;
  /** The client is not taking the body (backpressure): the idle time does not run. */
  paused: boolean;
  /** The idle timeout that `touched` renews (ms). */
  readonly idleMs: number;
  /** The deadline passed: fail the request (the sweep has already stopped watching it). */
  expire(): void;
  // The list links, owned by UpstreamDeadlines (null when not listed).
  prevWatched: Watched | null;
  nextWatched: Watched | null;
  listed: boolean;
}

export class UpstreamDeadlines {
  private head: Watched | null = null;
  private count = 0;
  private timer: NodeJS.Timeout | undefined = undefined;

  /** Watch `w` (its deadline set; watching it again changes nothing); the sweep runs while anything is watched. */
  watch(w: Watched): void {
    if (w.listed) return;
    w.listed = true;
    w.prevWatched = null;
    w.nextWatched = this.head;
    if (this.head !== null) this.head.prevWatched = w;
    this.head = w;
    this.count++;
    if (this.timer === undefined) {
      this.timer = setInterval(this.sweep, TICK_MS);
      this.timer.unref();
    }
  }

  unwatch(w: Watched): void {
    if (!w.listed) return;
    w.listed = false;
    const prev = w.prevWatched;
    const next = w.nextWatched;
    if (prev === null) this.head = next;
    else prev.nextWatched = next;
    if (next !== null) next.prevWatched = prev;
    w.prevWatched = w.nextWatched = null;
    this.count--;
  }

  /** Requests watched now (tests). */
  get size(): number {
    return this.count;
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    let w = this.head;
    while (w !== null) {
      const next = w.nextWatched;
      if (w.touched) {
        w.touched = false;
        w.deadline = now + w.idleMs;
      } else if (now >= w.deadline && !w.paused) {
        this.unwatch(w);
        try {
          w.expire();
        } catch {
          // expire() aborts an undici request; nothing it throws may stop the sweep for the others
        }
      }
      w = next;
    }
    if (this.count === 0) this.stop();
  };

  /** Stop the sweep and forget every request (gateway shutdown, after the pools closed them). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    while (this.head !== null) this.unwatch(this.head);
  }
}
