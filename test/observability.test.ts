/**
 * Issue 5 end to end, over real sockets: the access log line of a proxied, a refused and a failed
 * request (and that no secret reaches the log), metric values after a known sequence of requests,
 * a valid exposition in both formats (checked by promtool when installed), and trace context as the
 * backend sees it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { Gateway } from '../src/gateway.js';
import { createDestination } from '../src/logger.js';
import { parseExposition, sampleValue } from './exposition.js';
import { basicConfig, closedPort, startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

const SECRETS = {
  authorization: 'Bearer sekret-token-4f1c9a',
  cookie: 'session=sekret-cookie-77b2; csrf=sekret-csrf-19aa',
  'x-api-key': 'sekret-api-key-0d3e',
};

const ACCESS_FIELDS = [
  'time', 'level', 'event', 'requestId', 'traceId', 'method', 'path', 'route', 'status', 'durationMs', 'upstream', 'target',
  'upstreamDurationMs', 'bytesIn', 'bytesOut', 'clientIp', 'userAgent', 'consumer', 'rateLimited', 'errorCode',
  'clientCert',
  'attempts',
].sort();


async function accessLine(gw: TestGateway, requestId: string): Promise<Record<string, unknown>> {
  let line: Record<string, unknown> | undefined;
  await waitFor(() => (line = gw.logs.find((l) => l['event'] === 'access' && l['requestId'] === requestId)) !== undefined, 3000, `access line ${requestId}`);
  return line!;
}

function assertNoSecrets(gw: TestGateway): void {
  const text = JSON.stringify(gw.logs);
  for (const secret of ['sekret-token-4f1c9a', 'sekret-cookie-77b2', 'sekret-csrf-19aa', 'sekret-api-key-0d3e']) {
    assert.ok(!text.includes(secret), `secret ${secret} in the log`);
  }
}

function config(backendUrl: string, deadUrl: string, extra = ''): string {
  return `
${extra}
upstreams:
  backend: { targets: [{ url: ${backendUrl} }] }
  dead: { targets: [{ url: ${deadUrl} }], timeouts: { connect: 1s } }
routes:
  - name: api
    match: { pathPrefix: /api }
    upstream: backend
    stripPrefix: true
  - name: only-get
    match: { path: /ro, methods: [GET] }
    upstream: backend
  - name: broken
    match: { pathPrefix: /broken }
    upstream: dead
`;
}

async function scrape(gw: TestGateway, accept?: string): Promise<{ type: string; text: string }> {
  const res = await fetch(`${gw.adminUrl}/metrics`, { headers: accept ? { accept } : {} });
  assert.equal(res.status, 200);
  return { type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('observability', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let deadUrl: string;
  before(async () => {
    backend = await startDemoBackend();
    deadUrl = `http://127.0.0.1:${await closedPort()}`;
    gw = await startGateway(config(backend.url, deadUrl, 'logging: { redactHeaders: [x-api-key] }'));
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  describe('access log', () => {
    it('writes every field for a proxied request, and no secret', async () => {
      const res = await fetch(`${gw.url}/api/hello?access_token=sekret-token-4f1c9a`, {
        headers: { ...SECRETS, 'user-agent': 'obs-test/1.0', 'x-request-id': 'req-proxied-1' },
      });
      assert.equal(res.status, 200);
      const body = await res.text();
      const line = await accessLine(gw, 'req-proxied-1');
      assert.deepEqual(Object.keys(line).sort(), ACCESS_FIELDS);
      assert.equal(line['event'], 'access');
      assert.equal(typeof line['time'], 'number');
      assert.equal(line['method'], 'GET');
      assert.equal(line['path'], '/api/hello');
      assert.equal(line['route'], 'api');
      assert.equal(line['status'], 200);
      assert.equal(line['upstream'], 'backend');
      assert.equal(line['target'], backend.url);
      assert.equal(line['clientIp'], '127.0.0.1');
      assert.equal(line['userAgent'], 'obs-test/1.0');
      assert.equal(line['consumer'], null);
      assert.equal(line['rateLimited'], false);
      assert.equal(line['errorCode'], null);
      assert.equal(line['bytesIn'], 0);
      assert.equal(line['bytesOut'], Buffer.byteLength(body));
      assert.match(String(line['traceId']), /^[0-9a-f]{32}$/);
      const upstreamMs = line['upstreamDurationMs'] as number;
      assert.ok(upstreamMs > 0 && (line['durationMs'] as number) >= upstreamMs, `durations ${line['durationMs']} / ${upstreamMs}`);
      assertNoSecrets(gw);
    });

    it('writes a refused request (404 and 405 from the router) with its error code', async () => {
      const r404 = await fetch(`${gw.url}/nowhere`, { headers: { ...SECRETS, 'x-request-id': 'req-404' } });
      assert.equal(r404.status, 404);
      await r404.text();
      const l404 = await accessLine(gw, 'req-404');
      assert.deepEqual(Object.keys(l404).sort(), ACCESS_FIELDS);
      assert.equal(l404['status'], 404);
      assert.equal(l404['route'], null);
      assert.equal(l404['upstream'], null);
      assert.equal(l404['target'], null);
      assert.equal(l404['upstreamDurationMs'], null);
      assert.equal(l404['errorCode'], 'GW_ERR_ROUTE_NOT_FOUND');
      assert.match(String(l404['traceId']), /^[0-9a-f]{32}$/);

      const r405 = await fetch(`${gw.url}/ro`, { method: 'DELETE', headers: { ...SECRETS, 'x-request-id': 'req-405' } });
      assert.equal(r405.status, 405);
      await r405.text();
      const l405 = await accessLine(gw, 'req-405');
      assert.equal(l405['status'], 405);
      assert.equal(l405['method'], 'DELETE');
      assert.equal(l405['errorCode'], 'GW_ERR_METHOD_NOT_ALLOWED');
      assertNoSecrets(gw);
    });

    it('writes a failed request (502, upstream on a closed port) and the upstream.error event with the same ids', async () => {
      const res = await fetch(`${gw.url}/broken/x`, { headers: { ...SECRETS, 'x-request-id': 'req-502' } });
      assert.equal(res.status, 502);
      await res.text();
      const line = await accessLine(gw, 'req-502');
      assert.deepEqual(Object.keys(line).sort(), ACCESS_FIELDS);
      assert.equal(line['status'], 502);
      assert.equal(line['route'], 'broken');
      assert.equal(line['upstream'], 'dead');
      assert.equal(line['target'], deadUrl);
      assert.equal(line['errorCode'], 'GW_ERR_UPSTREAM_UNAVAILABLE');
      assert.equal(typeof line['upstreamDurationMs'], 'number');
      const event = gw.logs.find((l) => l['event'] === 'upstream.error' && l['requestId'] === 'req-502');
      assert.ok(event, 'upstream.error line');
      assert.equal(event['traceId'], line['traceId']);
      assert.equal(event['kind'], 'refused');
      assertNoSecrets(gw);
    });
  });

  describe('trace context', () => {
    const last = () => backend.seen().at(-1)!.headers;

    it('passes a valid traceparent and its tracestate through unchanged, and logs its trace id', async () => {
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const res = await fetch(`${gw.url}/api/t1`, { headers: { traceparent: tp, tracestate: 'vendor=abc,other=1', 'x-request-id': 'req-trace-1' } });
      assert.equal(res.status, 200);
      await res.text();
      assert.equal(last()['traceparent'], tp);
      assert.equal(last()['tracestate'], 'vendor=abc,other=1');
      assert.equal((await accessLine(gw, 'req-trace-1'))['traceId'], '4bf92f3577b34da6a3ce929d0e0e4736');
    });

    for (const [what, tp] of [
      ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
      ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
      ['an all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
      ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
      ['version 00 with trailing data', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'],
      ['garbage', 'hello'],
    ] as const) {
      it(`replaces a traceparent with ${what} by a new trace and drops tracestate`, async () => {
        const id = `req-bad-${what.replace(/\W+/g, '-')}`;
        const res = await fetch(`${gw.url}/api/t2`, { headers: { traceparent: tp, tracestate: 'vendor=abc', 'x-request-id': id } });
        await res.text();
        const sent = String(last()['traceparent']);
        assert.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        assert.notEqual(sent.slice(3, 35), '4bf92f3577b34da6a3ce929d0e0e4736');
        assert.equal(last()['tracestate'], undefined);
        assert.equal((await accessLine(gw, id))['traceId'], sent.slice(3, 35));
      });
    }

    it('starts a trace when there is none', async () => {
      const res = await fetch(`${gw.url}/api/t3`, { headers: { 'x-request-id': 'req-new-trace' } });
      await res.text();
      const sent = String(last()['traceparent']);
      assert.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.equal((await accessLine(gw, 'req-new-trace'))['traceId'], sent.slice(3, 35));
    });

    it('accepts a future version by its first fields and sends it as version 00', async () => {
      const res = await fetch(`${gw.url}/api/t4`, { headers: { traceparent: 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future', tracestate: 'v=1' } });
      await res.text();
      assert.equal(last()['traceparent'], '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      assert.equal(last()['tracestate'], 'v=1');
    });
  });
});

describe('metrics', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let other: TestGateway;
  let deadUrl: string;
  before(async () => {
    backend = await startDemoBackend();
    deadUrl = `http://127.0.0.1:${await closedPort()}`;
    gw = await startGateway(config(backend.url, deadUrl));
    other = await startGateway(config(backend.url, deadUrl));
    // The known sequence: 3 GET 200 + 1 POST 200 + 2 GET 503 on api, 1 unmatched 404, 1 405, 2 502 on broken.
    const send = async (path: string, init?: RequestInit) => (await fetch(`${gw.url}${path}`, init)).text();
    for (let i = 0; i < 3; i++) await send('/api/a');
    await send('/api/a', { method: 'POST', body: 'x' });
    for (let i = 0; i < 2; i++) await send('/api/status/503');
    await send('/nothing-here');
    await send('/ro', { method: 'PUT' });
    for (let i = 0; i < 2; i++) await send('/broken');
    gw.gateway.services.metrics.rateLimitStoreError();
    gw.gateway.services.metrics.jwksFetchError('https://issuer.example');
  });
  after(async () => {
    await gw.close();
    await other.close();
    await backend.close();
  });

  it('counts the known sequence, with bounded labels', async () => {
    const { type, text } = await scrape(gw);
    assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8');
    const m = parseExposition(text);
    const req = (labels: Record<string, string>) => sampleValue(m, 'gateway_http_requests_total', 'gateway_http_requests_total', labels);
    assert.equal(req({ route: 'api', method: 'GET', status: '200' }), 3);
    assert.equal(req({ route: 'api', method: 'POST', status: '200' }), 1);
    assert.equal(req({ route: 'api', method: 'GET', status: '503' }), 2);
    assert.equal(req({ route: '', method: 'GET', status: '404' }), 1);
    assert.equal(req({ route: 'only-get', method: 'PUT', status: '405' }), undefined, 'a 405 has no route: counted under route=""');
    assert.equal(req({ route: '', method: 'PUT', status: '405' }), 1);
    assert.equal(req({ route: 'broken', method: 'GET', status: '502' }), 2);
    const total = m.get('gateway_http_requests_total')!.samples.reduce((n, s) => n + s.value, 0);
    assert.equal(total, 10);
    for (const s of m.get('gateway_http_requests_total')!.samples) assert.ok(!s.labels['route']!.includes('/'), 'never a raw path');

    const hist = (sample: string, labels: Record<string, string>) => sampleValue(m, 'gateway_http_request_duration_seconds', sample, labels);
    assert.equal(hist('gateway_http_request_duration_seconds_count', { route: 'api', method: 'GET' }), 5);
    assert.equal(hist('gateway_http_request_duration_seconds_bucket', { route: 'api', method: 'GET', le: '+Inf' }), 5);
    assert.equal(hist('gateway_http_request_duration_seconds_bucket', { route: 'api', method: 'GET', le: '10' }), 5);
    assert.ok(hist('gateway_http_request_duration_seconds_sum', { route: 'api', method: 'GET' })! > 0);

    const up = (sample: string, labels: Record<string, string>) => sampleValue(m, 'gateway_upstream_request_duration_seconds', sample, labels);
    assert.equal(up('gateway_upstream_request_duration_seconds_count', { upstream: 'backend', target: backend.url }), 6);
    assert.equal(up('gateway_upstream_request_duration_seconds_count', { upstream: 'dead', target: deadUrl }), 2);
    assert.equal(sampleValue(m, 'gateway_upstream_errors_total', 'gateway_upstream_errors_total', { upstream: 'dead', target: deadUrl, kind: 'refused' }), 2);
    assert.equal(sampleValue(m, 'gateway_http_requests_in_flight', 'gateway_http_requests_in_flight', {}), 0);
    assert.equal(sampleValue(m, 'gateway_rate_limit_store_errors_total', 'gateway_rate_limit_store_errors_total', {}), 1);
    assert.equal(sampleValue(m, 'gateway_jwks_fetch_errors_total', 'gateway_jwks_fetch_errors_total', { issuer: 'https://issuer.example' }), 1);
    for (const name of ['gateway_auth_failures_total', 'gateway_rate_limited_total']) assert.equal(m.get(name)?.type, 'counter');
    assert.equal(m.get('gateway_http_requests_in_flight')?.type, 'gauge');
    assert.equal(m.get('gateway_upstream_request_duration_seconds')?.type, 'histogram');
    assert.ok(m.has('process_cpu_user_seconds_total') && m.has('nodejs_eventloop_lag_seconds'), 'default process metrics');
  });

  it('keeps one registry per gateway', async () => {
    const m = parseExposition((await scrape(other)).text);
    assert.equal(m.get('gateway_http_requests_total')!.samples.length, 0);
    assert.equal(sampleValue(m, 'gateway_rate_limit_store_errors_total', 'gateway_rate_limit_store_errors_total', {}), 0);
  });

  it('serves OpenMetrics when the scraper asks for it, and the text format again afterwards', async () => {
    const prometheusAccept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const om = await scrape(gw, prometheusAccept);
    assert.equal(om.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok(om.text.endsWith('# EOF\n'));
    const m = parseExposition(om.text, true);
    assert.equal(m.get('gateway_http_requests')?.type, 'counter');
    assert.equal(sampleValue(m, 'gateway_http_requests', 'gateway_http_requests_total', { route: 'api', method: 'GET', status: '200' }), 3);
    assert.ok(m.has('process_cpu_user_seconds'), 'default counters renamed to their OpenMetrics family');

    // prom-client renames counters in place for OpenMetrics: the text format must not be affected.
    const again = parseExposition((await scrape(gw, 'text/plain')).text);
    assert.equal(again.get('gateway_http_requests_total')?.type, 'counter');
    assert.ok(again.has('process_cpu_user_seconds_total'));
    const plain = await scrape(gw, 'application/openmetrics-text;q=0.1,text/plain;q=0.9');
    assert.equal(plain.type, 'text/plain; version=0.0.4; charset=utf-8');
  });

  it('has a dashboard built on these metrics, with the data source as an import input', async () => {
    const dash = JSON.parse(readFileSync(new URL('../dashboards/grafana.json', import.meta.url), 'utf8')) as {
      __inputs: Array<{ name: string; pluginId: string }>;
      panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }>;
    };
    assert.deepEqual(dash.__inputs.map((i) => [i.name, i.pluginId]), [['DS_PROMETHEUS', 'prometheus']]);
    const m = parseExposition((await scrape(gw)).text);
    const families = new Set(m.keys());
    const titles = dash.panels.map((p) => p.title).join('\n');
    for (const want of [/request rate/i, /error rate/i, /p50/i, /p99/i, /upstream latency/i, /rate-limited/i, /auth failures/i]) assert.match(titles, want);
    for (const panel of dash.panels) {
      assert.equal(panel.datasource.uid, '${DS_PROMETHEUS}');
      for (const { expr } of panel.targets) {
        for (const [name] of expr.matchAll(/\b(?:gateway|process|nodejs)_[a-z_0-9]+/g)) {
          const family = name.replace(/_(bucket|sum|count)$/, '');
          assert.ok(families.has(family), `${panel.title}: ${name} is not exported`);
        }
      }
    }
  });

  it('passes promtool check metrics (when promtool is installed)', async (t) => {
    const which = spawnSync('promtool', ['--version']);
    if (which.error) {
      console.log('# skipping promtool check: promtool is not installed (Debian package prometheus)');
      t.skip('promtool not installed');
      return;
    }
    const { text } = await scrape(gw);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  });
});

describe('observability config', () => {
  let backend: DemoBackend;
  before(async () => {
    backend = await startDemoBackend();
  });
  after(() => backend.close());

  it('samples successes but always logs errors', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', 'logging: { sample: 0 }'));
    try {
      for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/ok`, { headers: { 'x-request-id': `s-${i}` } })).text();
      await (await fetch(`${gw.url}/status/500`, { headers: { 'x-request-id': 's-500' } })).text();
      await (await fetch(`${gw.url}/status/404`, { headers: { 'x-request-id': 's-404' } })).text();
      await accessLine(gw, 's-500');
      await accessLine(gw, 's-404');
      assert.equal(gw.logs.filter((l) => l['event'] === 'access').length, 2);
    } finally {
      await gw.close();
    }
  });

  it('switches the access log, metrics and tracing off', async () => {
    const gw = await startGateway(
      basicConfig(backend.url, '', 'logging: { accessLog: false }\nmetrics: { enabled: false }\ntracing: { enabled: false }'),
    );
    try {
      const tp = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01';
      await (await fetch(`${gw.url}/x`, { headers: { traceparent: tp } })).text();
      assert.equal(backend.seen().at(-1)!.headers['traceparent'], tp, 'tracing off: headers pass untouched');
      assert.equal(gw.logs.filter((l) => l['event'] === 'access').length, 0);
      assert.equal((await fetch(`${gw.adminUrl}/metrics`)).status, 404);
      assert.equal(gw.gateway.snapshot.observers.length, 0, 'nothing in the request path');
    } finally {
      await gw.close();
    }
  });

  it('flushes the asynchronous log destination on close()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
    const file = join(dir, 'gateway.log');
    writeFileSync(file, '');
    const { config } = parseConfig(basicConfig(backend.url, '', 'server: { port: 0 }\nadmin: { port: 0 }'), process.env);
    const destination = createDestination(file);
    const gateway = await Gateway.create({ config, destination });
    const { port } = await gateway.start();
    await (await fetch(`http://127.0.0.1:${port}/flush`, { headers: { 'x-request-id': 'flush-1' } })).text();
    await gateway.close(1000);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.find((l) => l['event'] === 'access');
    assert.equal(access?.['requestId'], 'flush-1');
    assert.equal(access?.['level'], 'info');
    assert.equal(lines.at(-1)?.['event'], 'gateway.stopped');
  });
});
