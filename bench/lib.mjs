// What the bench scripts share: free ports, a PATH lookup, the nginx configs (backend and reverse
// proxy) and the WebSocket bench's gateway config. Plain Node ESM, no dependencies.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export const HOST = '127.0.0.1'; // the only address the bench scripts ever send traffic to

/** Distinct free ports on 127.0.0.1 (held open together so they differ, then released). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((ok, ko) => s.once('error', ko).listen(0, HOST, ok));
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  }
}

export function onPath(bin) {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, bin)));
}

/**
 * nginx arguments for a config written to `dir`: one worker listening on `port`, either answering
 * every path with a fixed JSON body (the shared harness's backend), or, with `proxyTo` (a port), the
 * reverse proxy it is usually deployed as (the shared harness's nginx-proxy.conf: a keep-alive pool
 * to the backend), terminating TLS with `tlsDir`/tls.crt and tls.key when given. `single`: one
 * process (master_process off), so its CPU time can be read from /proc like a gateway's.
 */
export function nginxArgs(dir, port, { proxyTo, tlsDir, single = false } = {}) {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const tls = tlsDir === undefined ? '' : ` ssl;\n    ssl_certificate ${tlsDir}/tls.crt;\n    ssl_certificate_key ${tlsDir}/tls.key;\n    ssl_protocols TLSv1.2 TLSv1.3`;
  const upstream =
    proxyTo === undefined
      ? ''
      : `  upstream backend {\n    server ${HOST}:${proxyTo};\n    keepalive 64;\n    keepalive_requests 1000000;\n    keepalive_timeout 60s;\n  }\n`;
  const location =
    proxyTo === undefined
      ? `      default_type application/json;\n      return 200 '{"ok":true,"service":"backend"}';\n`
      : `      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n`;
  writeFileSync(
    conf,
    `worker_processes 1;\n${single ? 'master_process off;\n' : ''}daemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
      `events { worker_connections 4096; }\n` +
      `http {\n  access_log off;\n  keepalive_timeout 75s;\n  keepalive_requests 1000000;\n` +
      ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp/${t};\n`).join('') +
      upstream +
      `  server {\n    listen ${HOST}:${port} backlog=4096${tls};\n    location / {\n${location}    }\n  }\n}\n`,
  );
  return ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`];
}

/** The WebSocket benches' gateway: one `websocket: true` route to the echo backend, no access log or metrics. */
export function wsGatewayConfig(port, adminPort, backendPort) {
  return `server: { port: ${port} }
admin: { port: ${adminPort} }
logging: { level: warn, accessLog: false }
metrics: { enabled: false }
upstreams: { echo: { targets: [{ url: "http://${HOST}:${backendPort}" }] } }
routes:
  - { name: ws, match: { pathPrefix: / }, upstream: echo, websocket: true }
`;
}
