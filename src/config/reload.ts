/**
 * What a reload reports: the outcome, every problem (with its field path) when it failed, and a
 * short diff of what changed when it succeeded. Shared by SIGHUP, `--watch`, `POST /reload` and the
 * primary of `--workers`, so they all say the same thing.
 */
import type { Config } from './schema.js';

export interface ConfigDiff {
  /** Route names. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Upstream names whose config changed (their pools and probes were rebuilt). */
  readonly upstreamsChanged: readonly string[];
  /**
   * Fields read only at start (listener addresses, logging, metrics, tracing): a new value is
   * noted here and takes effect on the next restart.
   */
  readonly restartRequired: readonly string[];
}

export interface ReloadResult {
  readonly ok: boolean;
  /** Why it failed: the file is invalid (422 on POST /reload), or something else went wrong (500). */
  readonly code?: 'GW_ERR_CONFIG_INVALID' | 'GW_ERR_RELOAD_FAILED';
  /** One line per problem, `field.path: what is wrong` (as `gateway validate` prints). */
  readonly problems: readonly string[];
  readonly diff?: ConfigDiff;
  /** Compile and swap time, ms. */
  readonly ms?: number;
}

/** Fields a running gateway cannot change (the listeners and gateway-wide extensions are built once). */
const START_ONLY: readonly (readonly [string, (c: Config) => unknown])[] = [
  ['server.host', (c) => c.server.host],
  ['server.port', (c) => c.server.port],
  ['server.maxHeaderSize', (c) => c.server.maxHeaderSize],
  // Certificates and keys are re-read on reload; whether the listener speaks TLS at all, asks for
  // client certificates, or offers HTTP/2 is fixed when it is created.
  ['server.tls (on/off)', (c) => c.server.tls !== undefined],
  ['server.tls.clientCa (on/off)', (c) => c.server.tls?.clientCa !== undefined],
  ['server.tls.clientCertRequired', (c) => c.server.tls?.clientCertRequired],
  ['server.http2', (c) => c.server.http2],
  ['server.h2c', (c) => c.server.h2c],
  ['server.redirectHttp', (c) => c.server.redirectHttp],
  ['admin', (c) => c.admin],
  ['logging', (c) => c.logging],
  ['metrics', (c) => c.metrics],
  ['tracing', (c) => c.tracing],
];

export function diffConfigs(before: Config, after: Config): ConfigDiff {
  const byName = (c: Config) => new Map(c.routes.map((r) => [r.name, JSON.stringify(r)]));
  const a = byName(before);
  const b = byName(after);
  const added = [...b.keys()].filter((n) => !a.has(n));
  const removed = [...a.keys()].filter((n) => !b.has(n));
  const changed = [...b.keys()].filter((n) => a.has(n) && a.get(n) !== b.get(n));
  const upstreamsChanged = Object.keys(after.upstreams).filter(
    (n) => before.upstreams[n] !== undefined && JSON.stringify(before.upstreams[n]) !== JSON.stringify(after.upstreams[n]),
  );
  const restartRequired = START_ONLY.filter(([, get]) => JSON.stringify(get(before)) !== JSON.stringify(get(after))).map(([name]) => name);
  // defaults apply to every route: a change there changes every route that inherits it.
  if (JSON.stringify(before.defaults) !== JSON.stringify(after.defaults)) {
    for (const n of b.keys()) if (a.has(n) && !changed.includes(n)) changed.push(n);
  }
  return { added, removed, changed, upstreamsChanged, restartRequired };
}

/** `+2 -1 ~3 routes` with the first names, for a log message. */
export function summarizeDiff(d: ConfigDiff): string {
  const list = (sign: string, names: readonly string[]) => (names.length === 0 ? [] : [`${sign}${names.length} (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`]);
  const parts = [...list('+', d.added), ...list('-', d.removed), ...list('~', d.changed)];
  return parts.length === 0 ? 'no route changed' : `routes ${parts.join(' ')}`;
}
