/** The admin listener (its own port, loopback by default): /health, /ready, /routes, /upstreams, /metrics, POST /reload. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { ReloadResult } from '../config/reload.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import { hostName } from '../proxy/headers.js';
import type { Snapshot } from '../router/compile.js';
import { describeRoutes } from '../router/compile.js';
import { problemJson } from '../server/respond.js';

export interface AdminHost {
  readonly snapshot: Snapshot;
  readonly ready: boolean;
  /** Serves /metrics when the metrics module is on; undefined answers 404. */
  readonly metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** Read the config file again and reload (POST /reload). */
  requestReload(): Promise<ReloadResult>;
}

function send(res: ServerResponse, status: number, text: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body, null, 2), 'application/json');
}

/** A problem+json reply; `problems` (a failed reload's lines) goes in as an extension member. */
function problem(res: ServerResponse, code: ErrorCode, detail?: string, problems?: readonly string[]): void {
  let text = problemJson(code, detail, undefined);
  if (problems !== undefined) text = `${text.slice(0, -1)},"problems":${JSON.stringify(problems)}}`;
  send(res, ERRORS[code].status, text, 'application/problem+json');
}

/**
 * DNS rebinding: a web page at evil.example whose name later resolves to 127.0.0.1 can read whatever
 * the browser fetches from it, the admin endpoints included — but its requests still say
 * `Host: evil.example`. So the admin listener answers only to IP addresses (a literal address cannot
 * be rebound), `localhost` and the names in admin.allowedHosts.
 */
export function adminHostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  const name = hostName(hostHeader);
  if (name === undefined) return false; // not host[:port] at all (RFC 9112 §3.2)
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (isIP(bare) !== 0 || name === 'localhost') return true;
  for (const h of allowed) if (h.toLowerCase() === name) return true;
  return false;
}

/** Every upstream's targets with their health, for /upstreams. */
export function describeUpstreams(snapshot: Snapshot): unknown {
  return Object.fromEntries(
    [...snapshot.upstreams].map(([name, u]) => [
      name,
      {
        healthCheck: u.healthCheck ? { path: u.healthCheck.path, intervalMs: u.healthCheck.interval } : 'off',
        targets: u.targets.map((t) => ({
          target: t.origin + t.basePath,
          available: t.available,
          healthy: t.health.healthy,
          outlier: t.health.outlier,
          ejections: t.health.ejections,
          active: t.active,
        })),
      },
    ]),
  );
}

const ENDPOINTS = 'GET /health, /ready, /routes, /upstreams, /metrics; POST /reload';

async function reload(host: AdminHost, res: ServerResponse): Promise<void> {
  let r: ReloadResult;
  try {
    r = await host.requestReload();
  } catch (err) {
    r = { ok: false, code: 'GW_ERR_RELOAD_FAILED', problems: [`(gateway): ${(err as Error).message}`] };
  }
  if (r.ok) return json(res, 200, { status: 'reloaded', ms: r.ms, diff: r.diff, ...(r.problems.length > 0 ? { problems: r.problems } : {}) });
  const n = r.problems.length;
  problem(res, r.code ?? 'GW_ERR_RELOAD_FAILED', `${n} problem${n === 1 ? '' : 's'}; the previous configuration keeps serving.`, r.problems);
}

export function createAdminServer(host: AdminHost): http.Server {
  return http.createServer((req, res) => {
    if (!adminHostAllowed(req.headers.host, host.snapshot.config.admin.allowedHosts)) {
      return problem(res, 'GW_ERR_HOST_NOT_ALLOWED', 'The admin listener answers to IP addresses, localhost and admin.allowedHosts.');
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/reload') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return problem(res, 'GW_ERR_METHOD_NOT_ALLOWED', '/reload takes POST.');
      }
      req.resume(); // a body, if any, is not read
      void reload(host, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return problem(res, 'GW_ERR_METHOD_NOT_ALLOWED', 'The admin endpoints accept GET and HEAD (and POST /reload).');
    }
    switch (path) {
      case '/health':
        return json(res, 200, { status: 'ok' });
      case '/ready':
        return host.ready ? json(res, 200, { status: 'ready', routes: host.snapshot.routes.length }) : json(res, 503, { status: 'not ready' });
      case '/routes':
        return json(res, 200, { routes: describeRoutes(host.snapshot), warnings: host.snapshot.warnings });
      case '/upstreams':
        return json(res, 200, { upstreams: describeUpstreams(host.snapshot) });
      case '/metrics':
        if (host.metricsHandler) return host.metricsHandler(req, res);
    }
    return problem(res, 'GW_ERR_ROUTE_NOT_FOUND', `Admin endpoints: ${ENDPOINTS}.`);
  });
}
