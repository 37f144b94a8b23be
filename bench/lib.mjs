// What the bench scripts share: free ports, a PATH lookup, a process's CPU time, the median, the
// nginx configs (backend and reverse proxy) and the WebSocket bench's gateway config. Plain Node
// ESM, no dependencies.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** Clock ticks per second, the unit of /proc CPU times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time a process has used (all its threads), in clock ticks; NaN once it is gone (Linux /proc). */
export function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return NaN;
  }
}

/** The median of the finite values (NaN when there are none). */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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
