/**
 * TLS termination: the certificates of server.tls as secure contexts, chosen by SNI from the names
 * each certificate carries, and re-read on reload or when their files change. A certificate or key
 * that does not load never replaces what serves: the old contexts stay and the failure is logged
 * (nginx keeps its old workers on a bad reload; Envoy's SDS keeps the last good secret).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsServerConfig } from '../config/schema.js';

/** One loaded set: the default context, and contexts by exact name and by wildcard suffix. */
export interface TlsContexts {
  readonly defaultOptions: SecureContextOptions;
  readonly defaultContext: SecureContext;
  /** `api.example.com` → context. */
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** `.example.com` (from `*.example.com`) → context. */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
  /** Every name served, in certificate order (for the start-up log). */
  readonly names: readonly string[];
}

function filePath(file: string, baseDir: string): string {
  return isAbsolute(file) || baseDir === '' ? resolve(file) : resolve(baseDir, file);
}

function readPem(file: string, baseDir: string, field: string): Buffer {
  try {
    return readFileSync(filePath(file, baseDir));
  } catch (err) {
    throw new Error(`${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * The DNS names a certificate is for: its subjectAltName DNS entries, or — only when it has none —
 * the subject CN (RFC 6125 §6.4.4), lower-case.
 */
export function certificateNames(pem: Buffer | string): string[] {
  const cert = new X509Certificate(pem);
  const san = cert.subjectAltName;
  if (san !== undefined && san !== '') {
    const names: string[] = [];
    for (const entry of san.split(/,\s*/)) if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase());
    if (names.length > 0) return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn !== undefined ? [cn.toLowerCase()] : [];
}

/** Build every context from the files; throws with the field path of what failed. */
export function loadTlsContexts(cfg: TlsServerConfig, baseDir: string): TlsContexts {
  const common: SecureContextOptions = { minVersion: cfg.minVersion };
  if (cfg.ciphers !== undefined) common.ciphers = cfg.ciphers;
  if (cfg.clientCa !== undefined) common.ca = readPem(cfg.clientCa, baseDir, 'server.tls.clientCa');
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  const names: string[] = [];
  let defaultOptions: SecureContextOptions | undefined;
  let defaultContext: SecureContext | undefined;
  cfg.certificates.forEach((c, i) => {
    const at = `server.tls.certificates[${i}]`;
    const cert = readPem(c.cert, baseDir, `${at}.cert`);
    const key = readPem(c.key, baseDir, `${at}.key`);
    let certNames: string[];
    try {
      certNames = certificateNames(cert);
    } catch (err) {
      throw new Error(`${at}.cert: ${c.cert} is not a PEM certificate (${(err as Error).message})`);
    }
    const options: SecureContextOptions = { ...common, cert, key };
    let context: SecureContext;
    try {
      context = createSecureContext(options);
    } catch (err) {
      throw new Error(`${at}: ${c.cert} and ${c.key} do not make a usable pair (${(err as Error).message})`);
    }
    if (i === 0) {
      defaultOptions = options;
      defaultContext = context;
    }
    for (const name of certNames) {
      // The first certificate that names a host wins, as in nginx's server_name order.
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(1))) wildcard.set(name.slice(1), context);
      } else if (!exact.has(name)) exact.set(name, context);
      names.push(name);
    }
  });
  return { defaultOptions: defaultOptions!, defaultContext: defaultContext!, exact, wildcard, names };
}

/** The context for an SNI name: exact, then a wildcard for exactly one more label (RFC 6125 §6.4.3), then the default. */
export function contextFor(contexts: TlsContexts, servername: string): SecureContext {
  const name = servername.toLowerCase();
  const hit = contexts.exact.get(name);
  if (hit !== undefined) return hit;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = contexts.wildcard.get(name.slice(dot));
    if (wild !== undefined) return wild;
  }
  return contexts.defaultContext;
}

/** What a listener with TLS is made from, and what keeps it current. */
export interface TlsTerminator {
  /** Options for https.createServer / http2.createSecureServer (default certificate, SNI, mTLS). */
  serverOptions(): SecureContextOptions & { SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void; requestCert: boolean; rejectUnauthorized: boolean };
  /** Listeners whose default context a reload must also replace (setSecureContext). */
  attach(server: { setSecureContext(options: SecureContextOptions): void }): void;
  /**
   * Re-read every certificate and key (with new settings, on a config reload). True when the new
   * contexts serve from now on; false when something failed to load: the old ones keep serving.
   */
  reload(cfg?: TlsServerConfig): boolean;
  close(): void;
}

const WATCH_DEBOUNCE_MS = 250;

export function createTlsTerminator(initial: TlsServerConfig, baseDir: string, logger: Logger): TlsTerminator {
  let cfg = initial;
  let contexts = loadTlsContexts(cfg, baseDir); // a broken file at start is a start-up error
  const servers: { setSecureContext(options: SecureContextOptions): void }[] = [];
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const files = (): string[] => {
    const list = cfg.certificates.flatMap((c) => [c.cert, c.key]);
    if (cfg.clientCa !== undefined) list.push(cfg.clientCa);
    return [...new Set(list.map((f) => filePath(f, baseDir)))];
  };

  const rewatch = (): void => {
    for (const w of watchers) w.close();
    watchers = [];
    if (!cfg.watch || closed) return;
    for (const file of files()) {
      try {
        // Renewals often replace the file (rename, or a symlink swap in a Kubernetes secret): the
        // watch is set again after each reload, on whatever the path names now.
        const w = watch(file, { persistent: false }, () => schedule());
        w.on('error', () => schedule());
        watchers.push(w);
      } catch (err) {
        logger.warn({ event: 'tls.watch_failed', file, reason: (err as Error).message }, 'cannot watch a certificate file; changes need a reload');
      }
    }
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    // An editor or certbot writes cert and key in several steps: wait until they are quiet.
    timer = setTimeout(() => {
      timer = undefined;
      reload();
    }, WATCH_DEBOUNCE_MS);
    timer.unref();
  };

  const reload = (next?: TlsServerConfig): boolean => {
    const use = next ?? cfg;
    let loaded: TlsContexts;
    try {
      loaded = loadTlsContexts(use, baseDir);
    } catch (err) {
      logger.error({ event: 'tls.reload_failed', reason: (err as Error).message }, 'TLS certificates not reloaded; the previous ones keep serving');
      rewatch();
      return false;
    }
    cfg = use;
    contexts = loaded;
    for (const s of servers) s.setSecureContext(loaded.defaultOptions);
    logger.info({ event: 'tls.reloaded', names: loaded.names }, 'TLS certificates reloaded');
    rewatch();
    return true;
  };

  rewatch();
  return {
    serverOptions() {
      return {
        ...contexts.defaultOptions,
        SNICallback: (name, cb) => cb(null, contextFor(contexts, name)),
        requestCert: cfg.clientCa !== undefined,
        rejectUnauthorized: cfg.clientCa !== undefined && cfg.clientCertRequired,
      };
    },
    attach(server) {
      servers.push(server);
    },
    reload,
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers) w.close();
      watchers = [];
    },
  };
}

const SUBJECT = Symbol('gateway.clientCert');

/**
 * The verified client certificate's subject (`CN=alice, O=Example`), '' when the client sent none or
 * it did not verify. Worked out once per connection.
 */
export function clientCertSubject(socket: TLSSocket & { [SUBJECT]?: string }): string {
  let s = socket[SUBJECT];
  if (s === undefined) {
    s = '';
    if (socket.authorized) {
      const cert = socket.getPeerX509Certificate?.();
      if (cert !== undefined) s = cert.subject.split('\n').join(', ');
    }
    socket[SUBJECT] = s;
  }
  return s;
}
