import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HookHead, listToFields } from './response-head.js';

describe('HookHead', () => {
  it('works on the flat list until headers is read, then on the object', () => {
    const list = ['content-type', 'application/json', 'set-cookie', 'a=1', 'set-cookie', 'b=2'];
    const head = new HookHead(200, false, list);
    assert.deepEqual(head.get('set-cookie'), ['a=1', 'b=2']);
    assert.equal(head.get('content-type'), 'application/json');
    assert.equal(head.get('vary'), undefined);
    head.set('vary', ['Accept', 'Origin']);
    head.append('set-cookie', 'c=3');
    head.delete('content-type');
    head.set('content-length', 5);
    assert.equal(head.fields(), list, 'still the same list');
    assert.deepEqual(list, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'vary', 'Accept', 'vary', 'Origin', 'set-cookie', 'c=3', 'content-length', '5']);
    const obj = head.headers;
    assert.deepEqual(obj, { 'set-cookie': ['a=1', 'b=2', 'c=3'], vary: ['Accept', 'Origin'], 'content-length': '5' });
    assert.equal(head.fields(), obj, 'written from the object once a hook read it');
    head.set('x-a', '1');
    head.append('x-a', '2');
    head.delete('vary');
    assert.deepEqual(head.get('x-a'), ['1', '2']);
    assert.deepEqual(obj, { 'set-cookie': ['a=1', 'b=2', 'c=3'], 'content-length': '5', 'x-a': ['1', '2'] });
  });

  it('starts from an object for local replies', () => {
    const fields = { 'content-type': 'text/plain', 'x-request-id': 'r1' };
    const head = new HookHead(204, true, fields);
    head.set('x-b', 'y');
    head.delete('content-type');
    assert.equal(head.headers, fields);
    assert.deepEqual(fields, { 'x-request-id': 'r1', 'x-b': 'y' });
    assert.deepEqual(listToFields(['a', '1', 'a', '2', 'b', '3']), { a: ['1', '2'], b: '3' });
  });
});
