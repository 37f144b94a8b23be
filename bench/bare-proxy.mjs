#!/usr/bin/env node
// The bare node:http + undici Pool proxy: about the least work a Node proxy can do per request, the
// floor the gateway is compared with (a copy of ../shared/bench/node/proxy-undici.js, the shared peer
// harness's "node-undici", without its optional JWT work; same Pool settings). `npm run bench` starts
// it with BARE=1 or LATENCY=1, pinned like a gateway. Env: PORT, UPSTREAM (http://127.0.0.1:9000);
// TLS_CERT and TLS_KEY (PEM files) serve HTTPS instead (the bench's TLS peers, TLS_PEERS).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Pool } from 'undici';

const PORT = Number(process.env.PORT || 8080);
const UPSTREAM = process.env.UPSTREAM || 'http://127.0.0.1:9000';

// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded; undici also rejects several of them.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te',
  'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'expect']);

const pool = new Pool(UPSTREAM, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });

function filter(headers) {
  const out = {};
  for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
  return out;
}

function forward(req, res) {
  const headers = filter(req.headers);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' &&
    (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
  pool.stream(
    { path: req.url, method: req.method, headers, body: hasBody ? req : null, opaque: res },
    ({ statusCode, headers: upstreamHeaders, opaque }) => {
      opaque.writeHead(statusCode, filter(upstreamHeaders));
      return opaque;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end('bad gateway'); }
      else res.destroy(err);
    },
  );
}

const tls = process.env.TLS_CERT ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) } : undefined;
const server = tls ? https.createServer(tls, forward) : http.createServer(forward);
server.keepAliveTimeout = 75_000;
server.listen(PORT, '127.0.0.1', () => console.log(`bare proxy on 127.0.0.1:${PORT} -> ${UPSTREAM} pid ${process.pid}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
