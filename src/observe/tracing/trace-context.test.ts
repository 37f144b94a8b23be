import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceparent, propagate, RandomIds, takeTraceHeaders } from './trace-context.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('parseTraceparent', () => {
  it('accepts version 00 with lower-case hex and any flags', () => {
    assert.deepEqual(parseTraceparent(TP), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' });
    assert.equal(parseTraceparent(TP.slice(0, -2) + '00')?.flags, '00');
    assert.equal(parseTraceparent(TP.slice(0, -2) + 'ff')?.flags, 'ff');
  });

  it('rejects what the spec rejects', () => {
    for (const bad of [
      '',
      TP.toUpperCase(),
      TP.replace('4bf92f3577b34da6a3ce929d0e0e4736', '0'.repeat(32)),
      TP.replace('00f067aa0ba902b7', '0'.repeat(16)),
      'ff' + TP.slice(2),
      TP + '-x', // version 00 is exactly 55 characters
      TP.slice(0, 54),
      TP.replace(/-/g, '_'),
      '00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01',
      '0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g',
    ]) {
      assert.equal(parseTraceparent(bad), undefined, bad);
    }
  });

  it('parses a future version by its first 55 characters', () => {
    assert.equal(parseTraceparent('01' + TP.slice(2) + '-more')?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(parseTraceparent('01' + TP.slice(2))?.parentId, '00f067aa0ba902b7');
    assert.equal(parseTraceparent('01' + TP.slice(2) + 'x'), undefined, 'what follows must start with -');
  });
});

describe('takeTraceHeaders / propagate', () => {
  it('takes both headers out of the list and keeps the others in order', () => {
    const headers = ['a', '1', 'traceparent', TP, 'b', '2', 'tracestate', 'x=1', 'tracestate', 'y=2', 'c', '3'];
    const t = takeTraceHeaders(headers);
    assert.deepEqual(headers, ['a', '1', 'b', '2', 'c', '3']);
    assert.equal(t.raw, TP);
    assert.equal(t.tracestate, 'x=1,y=2');
  });

  it('restarts the trace on two traceparent fields', () => {
    const headers = ['traceparent', TP, 'traceparent', TP, 'tracestate', 'x=1'];
    const d = propagate(headers, new RandomIds(), '01');
    assert.deepEqual(headers, []);
    assert.notEqual(d.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(d.tracestate, '');
    assert.equal(d.parentId, '');
  });

  it('passes a valid one through byte for byte', () => {
    const d = propagate(['traceparent', TP, 'tracestate', 'x=1'], new RandomIds(), '01');
    assert.deepEqual(d, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', traceparent: TP, tracestate: 'x=1' });
  });

  it('starts new traces with the configured flags', () => {
    assert.match(propagate([], new RandomIds(), '00').traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});

describe('RandomIds', () => {
  it('makes distinct, well-formed ids across pool refills', () => {
    const ids = new RandomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = ids.traceId();
      const s = ids.spanId();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.match(s, /^[0-9a-f]{16}$/);
      seen.add(t);
    }
    assert.equal(seen.size, 1000);
  });
});
