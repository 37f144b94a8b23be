/** The admin listener (its own port, loopback by default): /health, /ready, /routes, /metrics. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Snapshot } from '../router/compile.js';
import { describeRoutes } from '../router/compile.js';
import { PROBLEM_TYPE_BASE } from '../server/respond.js';

export interface AdminHost {
  readonly snapshot: Snapshot;
  readonly ready: boolean;
  /** Serves /metrics when the metrics module is on; undefined answers 404. */
  readonly metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createAdminServer(host: AdminHost): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { type: PROBLEM_TYPE_BASE + 'GW_ERR_METHOD_NOT_ALLOWED', title: 'Method Not Allowed', status: 405, code: 'GW_ERR_METHOD_NOT_ALLOWED' }, 'application/problem+json');
    }
    switch (path) {
      case '/health':
        return json(res, 200, { status: 'ok' });
      case '/ready':
        return host.ready ? json(res, 200, { status: 'ready', routes: host.snapshot.routes.length }) : json(res, 503, { status: 'not ready' });
      case '/routes':
        return json(res, 200, { routes: describeRoutes(host.snapshot), warnings: host.snapshot.warnings });
      case '/metrics':
        if (host.metricsHandler) return host.metricsHandler(req, res);
    }
    return json(
      res,
      404,
      { type: PROBLEM_TYPE_BASE + 'GW_ERR_ROUTE_NOT_FOUND', title: 'Not Found', status: 404, detail: 'Admin endpoints: /health, /ready, /routes, /metrics.', code: 'GW_ERR_ROUTE_NOT_FOUND' },
      'application/problem+json',
    );
  });
}
