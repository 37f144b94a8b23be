/**
 * A log line per event would let a flood of rejected requests (or a dead Redis at 20k req/s) flood
 * the log too. A gate lets one line through per interval and says how many it held back.
 */
export interface LogGate {
  /** The number of events held back since the last line, when this one may be logged; -1 when not. */
  pass(): number;
}

export function createLogGate(intervalMs: number, now: () => number = Date.now): LogGate {
  let last = -Infinity;
  let held = 0;
  return {
    pass() {
      const t = now();
      if (t - last < intervalMs) {
        held++;
        return -1;
      }
      last = t;
      const n = held;
      held = 0;
      return n;
    },
  };
}
