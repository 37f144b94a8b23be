/**
 * Optional OTLP export: a fake collector on port 0 receives the gateway's spans (OTLP/HTTP JSON).
 * The span is the backend's parent, and a child of the caller's span when there was one.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { basicConfig, startDemoBackend, startGateway, type DemoBackend } from './helpers.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

/** OTLP JSON ids are hex strings (the OTLP/JSON mapping), possibly base64 in older exporters. */
function hex(id: string | undefined): string | undefined {
  if (id === undefined || id === '') return undefined;
  return /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex');
}

describe('OTLP export', () => {
  let backend: DemoBackend;
  let collector: http.Server;
  let collectorUrl: string;
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  before(async () => {
    backend = await startDemoBackend();
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        assert.equal(req.url, '/v1/traces');
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: Array<{ resource: unknown; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans) {
          resources.push(rs.resource);
          for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  });
  after(async () => {
    await backend.close();
    await new Promise<void>((r) => collector.close(() => r()));
  });

  it('exports one server span per request, parent of the backend and child of the caller', async () => {
    const gw = await startGateway(basicConfig(backend.url, '', `tracing: { otlp: { endpoint: ${collectorUrl}, serviceName: edge } }`));
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await (await fetch(`${gw.url}/child`, { headers: { traceparent: caller, tracestate: 'v=1', 'x-request-id': 'otlp-1' } })).text();
    const sentChild = String(backend.seen().at(-1)!.headers['traceparent']);
    assert.equal(backend.seen().at(-1)!.headers['tracestate'], 'v=1');
    await (await fetch(`${gw.url}/status/503`, { headers: { 'x-request-id': 'otlp-2' } })).text();
    const sentRoot = String(backend.seen().at(-1)!.headers['traceparent']);
    await gw.close(); // shuts the provider down: the batch is exported

    assert.equal(spans.length, 2);
    const child = spans.find((s) => hex(s.traceId) === '4bf92f3577b34da6a3ce929d0e0e4736')!;
    assert.ok(child, 'span in the caller trace');
    assert.equal(hex(child.parentSpanId), '00f067aa0ba902b7');
    assert.equal(sentChild, `00-4bf92f3577b34da6a3ce929d0e0e4736-${hex(child.spanId)}-01`, 'the backend sees the gateway span as parent');
    assert.equal(child.name, 'GET api');
    assert.equal(child.kind, 2, 'SERVER');
    const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value;
    assert.deepEqual(attr(child, 'gateway.request_id'), { stringValue: 'otlp-1' });

    const root = spans.find((s) => s !== child)!;
    assert.equal(hex(root.parentSpanId), undefined);
    assert.equal(sentRoot, `00-${hex(root.traceId)}-${hex(root.spanId)}-01`);
    assert.equal(root.status?.code, 2, 'ERROR for a 5xx');
    assert.ok(JSON.stringify(resources).includes('"edge"'), 'service.name');
    const access = gw.logs.find((l) => l['event'] === 'access' && l['requestId'] === 'otlp-2');
    assert.equal(access?.['traceId'], hex(root.traceId));
  });

  it('respects an unsampled caller: nothing exported, flags 00 upstream', async () => {
    spans.length = 0;
    const gw = await startGateway(basicConfig(backend.url, '', `tracing: { otlp: { endpoint: ${collectorUrl} } }`));
    await (await fetch(`${gw.url}/x`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' } })).text();
    const sent = String(backend.seen().at(-1)!.headers['traceparent']);
    await gw.close();
    assert.match(sent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    assert.equal(spans.length, 0);
  });
});
