/**
 * Issue 15 (adversarial review): each describe is one item, black-box over real sockets against a
 * real gateway and the demo backend.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { configProblems, rawRequest, startDemoBackend, startGateway, type DemoBackend, type TestGateway } from './helpers.js';
import { SECRET, hmacKey, jose, now } from './jwt-fixtures.js';

const LOCAL = 'https://auth.local';
const claims = (extra: Record<string, unknown> = {}) => ({ iss: LOCAL, aud: 'api', sub: 'alice', iat: now(), exp: now() + 300, ...extra });

const jwtBlock = `
jwt:
  issuers:
    - { name: local, issuer: ${LOCAL}, audiences: [api], algorithms: [HS256], secret: "\${JWT_SECRET}" }
    - { name: other, issuer: https://other.example, audiences: [api], algorithms: [HS256], secret: "\${JWT_SECRET}-other" }
  forwardClaims: { sub: X-User-Id, scope: X-User-Scopes, tenant: X-Tenant }
`;

interface Echo {
  headers: Record<string, string>;
  rawPath: string;
}

describe('15.3 malformed Authorization on JWT routes', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `${jwtBlock}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: optional, match: { pathPrefix: /optional }, upstream: backend, auth: { jwt: optional } }
  - { name: basic-ok, match: { pathPrefix: /legacy }, upstream: backend, auth: { jwt: optional, otherSchemes: forward } }
  - { name: required, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required } }
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  /** Raw bytes, so TAB and NBSP reach the gateway exactly as a hostile client sends them. */
  const send = (path: string, authorization: string) =>
    rawRequest(gw.port, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`, 'latin1'));

  it('Bearer<TAB>, Bearer<NBSP>, Bearer,token and an empty Bearer are 401 invalid_token on optional and required routes; the backend sees nothing', async () => {
    const forged = await jose('HS256', new TextEncoder().encode('not-the-secret-not-the-secret-xx'), claims({ sub: 'admin' }));
    for (const path of ['/optional/x', '/x']) {
      for (const value of [`Bearer\t${forged}`, `Bearer\u00a0${forged}`, `Bearer,${forged}`, `,Bearer ${forged}`, `Bearer`]) {
        const before = backend.count();
        const res = await send(path, value);
        assert.equal(res.status, 401, `${path} ${JSON.stringify(value.slice(0, 8))}: ${res.raw.slice(0, 200)}`);
        assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_AUTH_INVALID');
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="gateway", error="invalid_token"/);
        assert.equal(backend.count(), before, 'a refused request never reaches the backend');
      }
    }
  });

  it('another scheme on an optional route is a 401 challenge (RFC 6750 §3.1), unless the route forwards other schemes', async () => {
    const before = backend.count();
    const res = await send('/optional/x', 'Basic YWRtaW46eA==');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="gateway"');
    assert.equal(backend.count(), before);
    const fwd = await send('/legacy/x', 'Basic YWRtaW46eA==');
    assert.equal(fwd.status, 200);
    assert.equal((JSON.parse(fwd.body) as Echo).headers['authorization'], 'Basic YWRtaW46eA==');
    const bad = await send('/legacy/x', 'Bearer\tabc');
    assert.equal(bad.status, 401, 'a malformed Bearer is refused even where other schemes are forwarded');
  });

  it('an anonymous request on an optional route carries no Authorization upstream; a valid token still passes', async () => {
    const anon = await fetch(`${gw.url}/optional/x`);
    assert.equal(anon.status, 200);
    assert.equal(((await anon.json()) as Echo).headers['authorization'], undefined);
    const ok = await send('/optional/x', `Bearer ${await jose('HS256', hmacKey, claims())}`);
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.body) as Echo).headers['x-user-id'], 'alice');
  });
});

describe('15.4 identity headers spoofed by spelling', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let trustedGw: TestGateway;
  const routes = (url: string) => `
upstreams:
  backend: { targets: [{ url: ${url} }] }
routes:
  - { name: optional, match: { pathPrefix: / }, upstream: backend, auth: { jwt: optional } }
`;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`${jwtBlock}${routes(backend.url)}`, { JWT_SECRET: SECRET });
    trustedGw = await startGateway(`${jwtBlock}\nserver: { trustedProxies: [127.0.0.1] }\n${routes(backend.url)}`, { JWT_SECRET: SECRET });
  });
  after(async () => {
    await gw?.close();
    await trustedGw?.close();
    await backend?.close();
  });

  const SPOOFS = [
    ['X_User_Id', 'admin'],
    ['x_user-id', 'admin'],
    ['X-USER_ID', 'admin'],
    ['X_Tenant', 'evil'],
    ['X_Request_Id', 'spoofed'],
    ['X_Forwarded_For', '6.6.6.6'],
    ['x-forwarded_proto', 'https'],
    ['X_Forwarded_Host', 'evil.example'],
    ['X-Real-IP', '6.6.6.6'],
    ['X_Real_IP', '6.6.6.6'],
  ] as const;

  /** Names as a CGI/WSGI/PHP/Rack backend folds them. */
  const cgi = (name: string) => name.toUpperCase().replaceAll('-', '_');

  async function forwarded(port: number, auth: string | undefined): Promise<string[]> {
    const lines = SPOOFS.map(([n, v]) => `${n}: ${v}\r\n`).join('');
    const before = backend.count();
    const res = await rawRequest(port, `GET /x HTTP/1.1\r\nHost: x\r\n${auth ? `Authorization: ${auth}\r\n` : ''}${lines}Connection: close\r\n\r\n`);
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    assert.equal(backend.count(), before + 1);
    return backend.seen().at(-1)!.rawHeaders;
  }

  it('no client header that folds to a gateway-set name reaches the backend (anonymous and with a token)', async () => {
    const token = await jose('HS256', hmacKey, claims({ tenant: 't-1' }));
    for (const auth of [undefined, `Bearer ${token}`]) {
      const raw = await forwarded(gw.port, auth);
      const values = new Map<string, string[]>();
      for (let i = 0; i < raw.length; i += 2) values.set(cgi(raw[i]!), [...(values.get(cgi(raw[i]!)) ?? []), raw[i + 1]!]);
      assert.deepEqual(values.get('X_USER_ID'), auth ? ['alice'] : undefined);
      assert.deepEqual(values.get('X_TENANT'), auth ? ['t-1'] : undefined);
      assert.equal(values.get('X_REQUEST_ID')?.length, 1);
      assert.notEqual(values.get('X_REQUEST_ID')?.[0], 'spoofed');
      assert.deepEqual(values.get('X_FORWARDED_FOR'), ['127.0.0.1']);
      assert.deepEqual(values.get('X_FORWARDED_PROTO'), ['http']);
      assert.deepEqual(values.get('X_FORWARDED_HOST'), ['x']);
      assert.equal(values.get('X_REAL_IP'), undefined, 'X-Real-IP from an untrusted peer is dropped');
    }
  });

  it('a trusted proxy keeps its X-Real-IP, but an underscore spelling is still dropped', async () => {
    const raw = await forwarded(trustedGw.port, undefined);
    const realIp = [];
    for (let i = 0; i < raw.length; i += 2) if (cgi(raw[i]!) === 'X_REAL_IP') realIp.push(`${raw[i]}: ${raw[i + 1]}`);
    assert.deepEqual(realIp, ['x-real-ip: 6.6.6.6']);
  });
});

describe('15.5 every forwarded claim encoded alike, unambiguously', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `${jwtBlock}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: api, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required } }
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  async function identity(extra: Record<string, unknown>): Promise<Record<string, string>> {
    const res = await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${await jose('HS256', hmacKey, claims(extra))}` } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return (JSON.parse(text) as Echo).headers;
  }

  it('CR, LF and NUL in scope or scp are encoded and the request goes through (no 502 blamed on the upstream)', async () => {
    const a = await identity({ scope: 'read\r\nX-Injected: 1 write' });
    assert.equal(a['x-user-scopes'], 'read%0D%0AX-Injected: 1 write');
    assert.equal(a['x-injected'], undefined);
    const b = await identity({ scp: ['read', 'nul\u0000byte'] });
    assert.equal(b['x-user-scopes'], 'read nul%00byte');
    assert.ok(!gw.logs.some((l) => l['errorCode'] === 'GW_ERR_UPSTREAM_UNAVAILABLE'));
  });

  it('non-ASCII scopes never go out raw', async () => {
    const h = await identity({ scope: 'lire écrire' });
    assert.equal(h['x-user-scopes'], 'lire %C3%A9crire');
  });

  it('distinct subjects never share a header value: é vs a literal %C3%A9, a trailing space', async () => {
    const values = [];
    for (const sub of ['é', '%C3%A9', 'alice ', 'alice']) values.push((await identity({ sub }))['x-user-id']);
    assert.deepEqual(values, ['%C3%A9', '%25C3%25A9', 'alice%20', 'alice']);
    assert.equal(decodeURIComponent(values[1]!), '%C3%A9');
  });
});

describe('15.6 consumer rate-limit keys include the issuer', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(
      `${jwtBlock}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
routes:
  - name: api
    match: { pathPrefix: / }
    upstream: backend
    auth: { jwt: required }
    rateLimit: [{ key: consumer, limit: 2, window: 1h }]
`,
      { JWT_SECRET: SECRET },
    );
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('bob of one issuer never spends bob of another issuer', async () => {
    const local = await jose('HS256', hmacKey, claims({ sub: 'bob' }));
    const other = await jose('HS256', new TextEncoder().encode(`${SECRET}-other`), claims({ sub: 'bob', iss: 'https://other.example' }));
    const call = async (token: string) => (await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status;
    assert.deepEqual([await call(local), await call(local), await call(local)], [200, 200, 429]);
    assert.deepEqual([await call(other), await call(other), await call(other)], [200, 200, 429]);
  });
});

describe('15.7 no raw error reply inside a response in progress', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`upstreams: { backend: { targets: [{ url: ${backend.url} }] } }\nroutes: [{ name: api, match: { pathPrefix: / }, upstream: backend }]`);
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const SIZE = 8 * 1024 * 1024;

  /** A large download, then — once its body is flowing — `second` on the same socket; everything read until the gateway closes. */
  function downloadThen(second: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(gw.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let received = 0;
      let sent = false;
      const timer = setTimeout(() => socket.destroy(new Error('the gateway did not close the connection')), 20_000);
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        received += d.length;
        if (!sent && received > 256 * 1024) {
          sent = true;
          socket.write(second);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      socket.on('error', reject);
      socket.write(`GET /bytes/${SIZE} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
  }

  it('a malformed pipelined request behind a large download: the body arrives intact, no 400 inside it, then the connection closes', async () => {
    const all = await downloadThen('GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    const text = all.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    assert.match(text.slice(0, split), /^HTTP\/1\.1 200 /);
    const body = text.slice(split + 4);
    assert.ok(!body.includes('HTTP/1.1'), 'a raw reply was written into the body');
    assert.equal(body.length, SIZE);
    assert.ok(gw.logs.some((l) => l['event'] === 'client.error' && l['responseInProgress'] === true));
  });

  it('with no response in progress, an unparsable request still gets its 400', async () => {
    const res = await rawRequest(gw.port, 'GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    assert.equal(res.status, 400);
  });
});

describe('15.9 more header fields than accepted is a 431, never a silent truncation', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  const yaml = (url: string, server: string) =>
    `server: { maxHeaderSize: 256kb${server} }\nupstreams: { backend: { targets: [{ url: ${url} }] } }\nroutes: [{ name: api, match: { pathPrefix: / }, upstream: backend }]`;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(yaml(backend.url, ''));
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const filler = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
  const post = (port: number, fields: number) =>
    rawRequest(port, `POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${filler(fields)}Content-Length: 5\r\n\r\nhello`);

  it('over 2,000 fields with a late Content-Length: 431 with a problem body, the backend sees nothing', async () => {
    const before = backend.count();
    const res = await post(gw.port, 2100);
    assert.equal(res.status, 431, res.raw.slice(0, 300));
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HEADERS_TOO_MANY');
    assert.equal(backend.count(), before);
  });

  it('the default is 100 fields (Envoy max_headers_count); exactly at the limit passes', async () => {
    assert.equal((await post(gw.port, 97)).status, 200); // + Host, Connection, Content-Length = 100
    assert.equal((await post(gw.port, 98)).status, 431);
  });

  it('a higher configured limit keeps every field, the late Content-Length too', async () => {
    const roomy = await startGateway(yaml(backend.url, ', maxHeaderCount: 3000'));
    try {
      const res = await post(roomy.port, 2100);
      assert.equal(res.status, 200, res.raw.slice(0, 300));
      assert.equal((JSON.parse(res.body) as { body: { bytes: number } }).body.bytes, 5);
    } finally {
      await roomy.close();
    }
  });
});

describe('15.10 rate-limit ip keys: IPv6 networks, canonical forms, ports in X-Forwarded-For', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
server: { trustedProxies: [127.0.0.1] }
upstreams: { backend: { targets: [{ url: ${backend.url} }] } }
routes:
  - { name: v6, match: { pathPrefix: /v6 }, upstream: backend, rateLimit: [{ key: ip, limit: 2, window: 1h }] }
  - { name: v4, match: { pathPrefix: /v4 }, upstream: backend, rateLimit: [{ key: ip, limit: 2, window: 1h }] }
`);
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  /** The status for a request a trusted proxy (this test, from 127.0.0.1) forwards for `client`. */
  const from = async (path: string, client: string) => (await fetch(`${gw.url}${path}`, { headers: { 'x-forwarded-for': client } })).status;

  it('addresses of one IPv6 /64 share one bucket, in any spelling; another /64 has its own', async () => {
    assert.equal(await from('/v6', '2001:db8:1:2::1'), 200);
    assert.equal(await from('/v6', '[2001:DB8:1:2:FFFF::7]:443'), 200);
    assert.equal(await from('/v6', '2001:0db8:0001:0002:0000:0000:0000:0009'), 429);
    assert.equal(await from('/v6', '2001:db8:1:3::1'), 200);
  });

  it('an IPv4-mapped IPv6 address and an entry with a port are the IPv4 client', async () => {
    assert.equal(await from('/v4', '198.51.100.7'), 200);
    assert.equal(await from('/v4', '::FFFF:198.51.100.7'), 200);
    assert.equal(await from('/v4', '198.51.100.7:5555'), 429);
    const line = gw.logs.filter((l) => l['event'] === 'access' && l['path'] === '/v4').at(-1);
    assert.equal(line?.['clientIp'], '198.51.100.7');
  });
});

describe('15.11 ${VAR} keeps the type the field has; secrets are never echoed', () => {
  const DIGITS = '1234567890123456789012345678901234567890'; // 40 digits: a valid HS256 secret, and no float holds it
  const base = (jwt: string, extra = '') => `
upstreams: { backend: { targets: [{ url: http://127.0.0.1:9 }] } }
routes: [{ name: api, match: { pathPrefix: / }, upstream: backend, auth: { jwt: required } }]
jwt:
  issuers:
    - { name: local, issuer: ${LOCAL}, audiences: [api], algorithms: [HS256], ${jwt} }
${extra}`;

  it('an all-digit secret, quoted or not, is the string it is: a token signed with it is accepted', async () => {
    const backend = await startDemoBackend();
    try {
      for (const secret of ['secret: "${JWT_SECRET}"', "secret: '${JWT_SECRET}'"]) {
        const gw = await startGateway(base(secret).replace('http://127.0.0.1:9', backend.url), { JWT_SECRET: DIGITS });
        try {
          const token = await jose('HS256', new TextEncoder().encode(DIGITS), claims());
          const res = await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
          assert.equal(res.status, 200, secret);
        } finally {
          await gw.close();
        }
      }
    } finally {
      await backend.close();
    }
    // Unquoted (block style): still the string, not a number that lost its last digits.
    const block = base('').replace(/- \{ name: local.*\n/, `- name: local\n      issuer: ${LOCAL}\n      audiences: [api]\n      algorithms: [HS256]\n      secret: \${S}\n`);
    assert.equal(parseConfig(block, { S: DIGITS }).config.jwt!.issuers[0]!.secret, DIGITS);
  });

  it('where the schema wants a number, ${VAR} still gives one, quoted (flow style) or not', () => {
    const { config } = parseConfig(`server: { port: "\${P}" }\nadmin:\n  port: \${Q}\n${base('secret: "${S}"')}`, { P: '8123', Q: '8124', S: DIGITS });
    assert.equal(config.server.port, 8123);
    assert.equal(config.admin.port, 8124);
    assert.equal(config.jwt!.issuers[0]!.secret, DIGITS);
  });

  it('no validation message shows a secret: a JWT secret of the wrong type, a Redis URL with a password, OTLP header values', () => {
    const problems = [
      ...configProblems(base(`secret: ${DIGITS}`)),
      ...configProblems(base('secret: "${S}"', 'rateLimit: { store: redis, redis: { url: "${R}" } }'), { S: DIGITS, R: 'http://user:pa/ss-w0rd@redis.internal:6379' }),
      ...configProblems(base('secret: "${S}"', 'tracing: { otlp: { endpoint: http://127.0.0.1:4318/v1/traces, headers: { authorization: [Bearer-s3cr3t-value] } } }'), { S: DIGITS }),
    ];
    assert.ok(problems.some((p) => p.startsWith('jwt.issuers[0].secret:')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('rateLimit.redis.url:')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('tracing.otlp.headers')), problems.join('\n'));
    const text = problems.join('\n');
    for (const leak of ['123456', 'pa/ss', 'w0rd', 's3cr3t']) assert.ok(!text.includes(leak), `${leak} echoed in:\n${text}`);
  });
});

describe('15.12 smaller protocol items', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let hostile: net.Server;
  before(async () => {
    backend = await startDemoBackend();
    // A backend that answers every request with bytes that are not HTTP/1.1.
    hostile = net.createServer((s) => s.once('data', () => s.end('FOO BAR\r\n\r\n')));
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    const hostilePort = (hostile.address() as net.AddressInfo).port;
    gw = await startGateway(`
${jwtBlock}
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
  hostile: { targets: [{ url: http://127.0.0.1:${hostilePort} }] }
routes:
  - { name: hostile, match: { pathPrefix: /hostile }, upstream: hostile }
  - { name: private, match: { pathPrefix: /private }, upstream: backend, auth: { jwt: required } }
  - { name: api, match: { pathPrefix: / }, upstream: backend }
`, { JWT_SECRET: SECRET });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    hostile?.close();
  });

  it('an upstream that does not speak HTTP/1.1 is a 502 bad response, logged as a protocol error', async () => {
    const res = await fetch(`${gw.url}/hostile/x`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_UPSTREAM_BAD_RESPONSE');
    const line = gw.logs.find((l) => l['event'] === 'upstream.error');
    assert.equal(line?.['kind'], 'protocol');
  });

  it('HTTP2-Settings is hop-by-hop: never forwarded', async () => {
    const res = await rawRequest(gw.port, 'GET /x HTTP/1.1\r\nHost: x\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Echo).headers['http2-settings'], undefined);
  });
});

describe('15.12 Expect: 100-continue refusals and the request timeout', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
server: { requestTimeout: 1s, headersTimeout: 1s }
${jwtBlock}
upstreams: { backend: { targets: [{ url: ${backend.url} }] } }
routes:
  - { name: private, match: { pathPrefix: /private, methods: [POST] }, upstream: backend, auth: { jwt: required } }
`, { JWT_SECRET: SECRET });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  /** Send `head`, never the body; resolve with everything read once the gateway closes (or '' + 'open' after 5 s). */
  function untilClosed(head: string, ms = 5000): Promise<{ text: string; closed: boolean }> {
    return new Promise((resolve) => {
      const socket = net.connect(gw.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
      }, ms);
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true });
      });
      socket.on('error', () => undefined);
      socket.write(head);
    });
  }

  it('an Expect: 100-continue request refused before its route is known closes the connection instead of waiting for the body', async () => {
    for (const [head, status] of [
      ['POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n', 404],
      ['PUT /private HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n', 405],
      ['POST /private HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n', 401],
    ] as const) {
      const { text, closed } = await untilClosed(head, 800);
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), head);
      assert.doesNotMatch(text, /100 Continue/);
      assert.match(text, /\r\nconnection: close\r\n/i, head);
      assert.ok(closed, `${status}: the gateway kept the connection open waiting for a body it refused`);
    }
  });

  it('the request timeout fires at its configured value (1 s), not at the 30 s sweep of Node', async () => {
    const { text, closed } = await untilClosed('POST /private HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n', 8000);
    assert.ok(closed, 'no 408 within 8 s of a 1 s timeout');
    assert.match(text, /^HTTP\/1\.1 408 /);
  });
});

describe('15.12 TRACE and the admin Host', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
admin: { allowedHosts: [gateway-admin.internal] }
upstreams: { backend: { targets: [{ url: ${backend.url} }] } }
routes:
  - { name: debug, match: { pathPrefix: /debug }, upstream: backend, allowTrace: true }
  - { name: listed, match: { pathPrefix: /listed, methods: [GET, TRACE] }, upstream: backend }
  - { name: reads, match: { pathPrefix: /reads, methods: [GET, HEAD] }, upstream: backend }
  - { name: api, match: { pathPrefix: / }, upstream: backend }
`);
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const trace = (path: string) => rawRequest(gw.port, `TRACE ${path} HTTP/1.1\r\nHost: x\r\nCookie: session=secret\r\nConnection: close\r\n\r\n`);

  it('TRACE is a 405 by default (cross-site tracing), with Allow naming the other methods; the backend never sees it', async () => {
    const before = backend.count();
    const all = await trace('/x');
    assert.equal(all.status, 405);
    assert.equal((JSON.parse(all.body) as { code: string }).code, 'GW_ERR_METHOD_NOT_ALLOWED');
    assert.equal(all.headers['allow'], 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    // (Which route's Allow a method-restricted path gets is the router's rule, issue 15 item 1.)
    assert.equal((await trace('/reads')).status, 405);
    assert.equal(backend.count(), before);
  });

  it('a route that allows TRACE (allowTrace, or TRACE in match.methods) forwards it', async () => {
    assert.equal((await trace('/debug/x')).status, 200);
    assert.equal((await trace('/listed/x')).status, 200);
  });

  it('the admin listener answers only to IP addresses, localhost and admin.allowedHosts (DNS rebinding)', async () => {
    const port = Number(new URL(gw.adminUrl).port);
    const admin = (host: string) => rawRequest(port, `GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'gateway-admin.internal', 'GATEWAY-ADMIN.internal:8001']) {
      assert.equal((await admin(host)).status, 200, host);
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io']) {
      const res = await admin(host);
      assert.equal(res.status, 421, host);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'GW_ERR_HOST_NOT_ALLOWED');
    }
  });
});
