import assert from 'node:assert/strict';
import http, { IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { fallbackWriteHead, GatewayResponse, isTrustedLine, linesToPairs, trustedLinesInHead } from './response.js';

/** One raw HTTP/1.1 exchange: the response head exactly as sent. */
async function rawHead(handler: (res: GatewayResponse) => void): Promise<string> {
  const server = http.createServer<typeof IncomingMessage, typeof GatewayResponse>({ IncomingMessage, ServerResponse: GatewayResponse }, (_req, res) => handler(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => (data += c));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    return text.slice(0, text.indexOf('\r\n\r\n') + 4);
  } finally {
    server.close();
  }
}

describe('trusted header lines', () => {
  it('accepts one plain line with a lower-case token name', () => {
    assert.equal(isTrustedLine('ratelimit: "ip-1s";r=9;t=1, "route";r=0;t=60\r\n'), true);
    assert.equal(isTrustedLine('x-request-id: 5f0c6d3e-aa\r\n'), true);
  });

  it('refuses anything that could change the message: several lines, control characters, framing fields', () => {
    for (const bad of [
      'a: 1\r\nb: 2\r\n', // a value carrying a second line
      'a: 1\rb\r\n',
      'a: 1\nb: 2\r\n',
      'a: \x00\r\n',
      'a: é\r\n',
      'a: 1',
      'A: 1\r\n',
      'a b: 1\r\n',
      ': 1\r\n',
      'content-length: 5\r\n',
      'transfer-encoding: chunked\r\n',
      'connection: close\r\n',
      'date: now\r\n',
    ]) {
      assert.equal(isTrustedLine(bad), false, JSON.stringify(bad));
    }
  });

  it('splits lines into name/value pairs', () => {
    assert.deepEqual(linesToPairs('a: 1\r\nb: x: y\r\n'), ['a', '1', 'b', 'x: y']);
    assert.deepEqual(linesToPairs(''), []);
  });

  it('writes the lines right after the status line on this Node, and Node still frames the message', async () => {
    assert.equal(trustedLinesInHead, true, 'the probe found the lines in the head');
    const head = await rawHead((res) => {
      res.trustedHeaders = 'ratelimit-limit: 5\r\nx-request-id: abc\r\n';
      res.writeHead(200, ['content-type', 'text/plain']);
      res.end('hello');
    });
    assert.match(head, /^HTTP\/1\.1 200 OK\r\nratelimit-limit: 5\r\nx-request-id: abc\r\ncontent-type: text\/plain\r\n/);
    assert.match(head, /\r\nDate: /);
    assert.match(head, /\r\nConnection: close\r\n/);
    assert.match(head, /\r\nTransfer-Encoding: chunked\r\n/, 'Node still chooses the framing');
  });

  it('without lines, the head is what Node alone writes', async () => {
    const head = await rawHead((res) => {
      res.writeHead(204, { 'x-a': '1' });
      res.end();
    });
    assert.match(head, /^HTTP\/1\.1 204 No Content\r\nx-a: 1\r\n/);
  });

  it('falls back to ordinary, checked headers (array or object) where the probe fails', async () => {
    const viaArray = await rawHead((res) => {
      res.trustedHeaders = 'ratelimit-reset: 3\r\n';
      fallbackWriteHead.call(res, 200, ['x-a', '1']);
      res.end();
    });
    assert.match(viaArray, /^HTTP\/1\.1 200 OK\r\nx-a: 1\r\nratelimit-reset: 3\r\n/);
    const viaObject = await rawHead((res) => {
      res.trustedHeaders = 'ratelimit-reset: 4\r\n';
      fallbackWriteHead.call(res, 429, { 'x-a': '1' });
      res.end();
    });
    assert.match(viaObject, /^HTTP\/1\.1 429 Too Many Requests\r\nx-a: 1\r\nratelimit-reset: 4\r\n/);
  });
});
