import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { removeHeaders } from './header-list.js';

describe('removeHeaders', () => {
  it('removes every entry of a name, or of a set of names, in place and in order', () => {
    const cases: [string[], string | Set<string>, string[]][] = [
      [[], 'a', []],
      [['a', '1'], 'a', []],
      [['a', '1', 'b', '2', 'a', '3'], 'a', ['b', '2']],
      [['b', '2', 'a', '1'], 'a', ['b', '2']],
      [['b', '2', 'c', '3'], 'a', ['b', '2', 'c', '3']],
      [['a', '1', 'b', '2', 'c', '3', 'b', '4'], new Set(['b', 'c']), ['a', '1']],
      [['x', '1', 'a', '2', 'y', '3', 'a', '4', 'z', '5'], new Set(['a']), ['x', '1', 'y', '3', 'z', '5']],
    ];
    for (const [list, names, want] of cases) {
      const copy = list.slice();
      removeHeaders(copy, names);
      assert.deepEqual(copy, want, `${JSON.stringify(list)} without ${typeof names === 'string' ? names : [...names].join(',')}`);
    }
  });

  it('leaves a list without the name untouched (the same array, the same length)', () => {
    const list = ['a', '1', 'b', '2'];
    removeHeaders(list, 'c');
    assert.deepEqual(list, ['a', '1', 'b', '2']);
  });
});
