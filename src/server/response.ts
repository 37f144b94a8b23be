/**
 * The proxy listener's ServerResponse: it can carry header lines the gateway made itself, written
 * right after the status line without Node's per-field checks.
 *
 * Why: Node checks every header it is given on every response — the name against the token
 * grammar, the value against a character class (two regular expressions), then lower-cases the
 * name to look for framing fields. For the five rate-limit fields that was ~2.5 µs per request in
 * `node --cpu-prof` (checkInvalidHeaderChar, processHeader, _storeHeader), about half of what
 * a limited route cost. The gateway's own fields need none of it: their names are constants, and
 * their values are digits or text checked once, when the config was compiled (isTrustedLine).
 *
 * How: Node builds the head in `_storeHeader(firstLine, headers)` starting from the status line
 * (the same internal since Node 0.x). The lines go after that first line, so Node still decides all
 * framing (Date, Connection, Content-Length, Transfer-Encoding) from the other headers. At start-up
 * a probe response checks that this works on the running Node; when it does not, writeHead adds the
 * lines as ordinary headers instead (checked by Node as before).
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';

interface StoreHeader {
  _storeHeader(firstLine: string, headers: unknown): void;
}

export class GatewayResponse extends ServerResponse {
  /** Complete header lines, each `name: value\r\n`, that pass isTrustedLine; '' for none. */
  trustedHeaders = '';
}

/**
 * Whether `line` may go out unchecked: one header line, `name: value\r\n`, with a lower-case token
 * name that is not a field Node uses for framing, and a value of visible ASCII and spaces (no CR, LF
 * or other control character). For text fixed at config time; what is added per request must be
 * digits or made by the gateway itself.
 */
export function isTrustedLine(line: string): boolean {
  return /^(?!(?:connection|content-length|transfer-encoding|date|expect|trailer|keep-alive|upgrade):)[a-z0-9!#$%&'*+.^_`|~-]+: [\x20-\x7e]*\r\n$/.test(line);
}

/** `a: 1\r\nb: 2\r\n` → ['a', '1', 'b', '2'] (the fallback path, and tests). */
export function linesToPairs(lines: string): string[] {
  const out: string[] = [];
  for (const line of lines.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(': ');
    out.push(line.slice(0, colon), line.slice(colon + 2));
  }
  return out;
}

const nodeStoreHeader = (ServerResponse.prototype as unknown as Partial<StoreHeader>)._storeHeader;
if (typeof nodeStoreHeader === 'function') {
  (GatewayResponse.prototype as unknown as StoreHeader)._storeHeader = function (this: GatewayResponse, firstLine: string, headers: unknown): void {
    nodeStoreHeader.call(this, this.trustedHeaders === '' ? firstLine : firstLine + this.trustedHeaders, headers);
  };
}

/** Whether the lines reach the head on this Node (a probe response, never sent). */
function probe(): boolean {
  try {
    const res = new GatewayResponse(new IncomingMessage(null as never));
    res.trustedHeaders = 'x-probe: 1\r\n';
    res.writeHead(200, ['x-other', '2']);
    const head = (res as unknown as { _header?: unknown })._header;
    return typeof head === 'string' && head.startsWith('HTTP/1.1 200 OK\r\nx-probe: 1\r\nx-other: 2\r\n');
  } catch {
    return false;
  }
}

export const trustedLinesInHead = probe();

const nodeWriteHead = ServerResponse.prototype.writeHead;

/**
 * writeHead for a Node where the probe failed: the lines go to Node as ordinary headers, checked
 * by it as before (what the gateway calls: writeHead(status, headers)).
 */
export const fallbackWriteHead = function (
  this: GatewayResponse,
  status: number,
  headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
): GatewayResponse {
  nodeWriteHead.call(this, status, withTrustedLines(this, headers));
  return this;
} as typeof GatewayResponse.prototype.writeHead;

/** The headers with the response's trusted lines added as ordinary (Node-checked) fields; the lines are used up. */
function withTrustedLines(res: GatewayResponse, headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined {
  if (res.trustedHeaders === '') return headers;
  const pairs = linesToPairs(res.trustedHeaders);
  res.trustedHeaders = '';
  if (Array.isArray(headers)) return [...headers, ...pairs];
  const h: OutgoingHttpHeaders = { ...headers };
  for (let i = 0; i < pairs.length; i += 2) h[pairs[i]!] = pairs[i + 1]!;
  return h;
}

if (!trustedLinesInHead) GatewayResponse.prototype.writeHead = fallbackWriteHead;

/**
 * Library mode: a ServerResponse made by someone else's server (node:http, Express, Fastify) has no
 * head hook, so the gateway's trusted lines go through that response's own writeHead as ordinary
 * headers (checked by Node), as on a Node where the probe failed.
 */
export function adoptResponse(res: ServerResponse): GatewayResponse {
  if (res instanceof GatewayResponse) return res;
  const r = res as GatewayResponse;
  r.trustedHeaders = '';
  const own = res.writeHead;
  r.writeHead = function (this: GatewayResponse, status: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]) {
    return own.call(this, status, withTrustedLines(this, headers) as OutgoingHttpHeaders);
  } as typeof r.writeHead;
  return r;
}
