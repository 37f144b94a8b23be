/**
 * The demo backend, used by the quick start, the tests and the benchmark:
 *   GET /status/:code   answers with that status
 *   GET /delay/:ms      answers after ms milliseconds (at most 60 s)
 *   GET /bytes/:n       streams n bytes (at most 10 GiB), with backpressure
 *   GET /health         {"status":"ok"}
 *   anything else       echoes method, path, query, headers and a sha256 digest of the body as JSON
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

export interface DemoBackend {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** Requests served so far (tests assert that rejected requests never arrive). */
  readonly count: () => number;
  /** Requests seen, newest last (method, path, headers), at most 1000 kept. */
  readonly seen: () => readonly SeenRequest[];
  close(): Promise<void>;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

const CHUNK = Buffer.alloc(64 * 1024, 'x');

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function streamBytes(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function echo(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://backend');
    sendJson(res, 200, {
      method: req.method,
      path: url.pathname,
      rawPath: (req.url ?? '/').split('?')[0],
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: { bytes, sha256: hash.digest('hex') },
    });
  });
  req.on('error', () => res.destroy());
}

export function handleDemoRequest(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0]!;
  let m: RegExpExecArray | null;
  if (path === '/health') return sendJson(res, 200, { status: 'ok' });
  if ((m = /^\/status\/(\d{3})$/.exec(path))) {
    const code = Number(m[1]);
    req.resume();
    if (code < 200 || code > 599) return sendJson(res, 400, { error: 'status must be 200-599' });
    if (code === 204 || code === 304) {
      res.writeHead(code);
      return void res.end();
    }
    return sendJson(res, code, { status: code });
  }
  if ((m = /^\/delay\/(\d+)$/.exec(path))) {
    const ms = Math.min(Number(m[1]), 60_000);
    req.resume();
    const timer = setTimeout(() => sendJson(res, 200, { delayed: ms }), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if ((m = /^\/bytes\/(\d+)$/.exec(path))) {
    req.resume();
    return streamBytes(res, Math.min(Number(m[1]), 10 * 1024 ** 3));
  }
  echo(req, res);
}

export function startDemoBackend(port = 0, host = '127.0.0.1'): Promise<DemoBackend> {
  let served = 0;
  const seen: SeenRequest[] = [];
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    served++;
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    if (seen.length > 1000) seen.shift();
    handleDemoRequest(req, res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        server,
        port: bound,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
        count: () => served,
        seen: () => seen,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
