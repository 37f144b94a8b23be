import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.js';
import { configProblems } from '../../../test/helpers.js';

const base = (top: string, limits: string) => `
${top}
upstreams: { b: { targets: [{ url: "http://127.0.0.1:9" }] } }
routes:
  - name: r
    match: { pathPrefix: / }
    upstream: b
    rateLimit: ${limits}
`;

const problems = (yaml: string): string[] => configProblems(yaml);

describe('rate-limit config', () => {
  it('accepts the issue example and fills defaults', () => {
    const { config } = parseConfig(
      base(
        'rateLimit: { store: redis, redis: { url: "${REDIS_URL:-redis://127.0.0.1:6379}", timeout: 50ms, prefix: "gw:" }, onStoreError: allow }',
        '[{ key: consumer, limit: 100, window: 1m }, { key: ip, limit: 10, window: 1s }, { key: "header:x-api-key", limit: 1000, window: 1h }]',
      ),
      {},
    );
    assert.equal(config.rateLimit.store, 'redis');
    assert.equal(config.routes[0]!.rateLimit![0]!.mode, 'enforce');
    assert.deepEqual(config.rateLimit.headers, { draft11: true, legacy: true });
  });

  it('defaults to the memory store', () => {
    assert.equal(parseConfig(base('', '[{ key: ip, limit: 1, window: 1s }]'), {}).config.rateLimit.store, 'memory');
  });

  it('reports bad limits with their field path', () => {
    assert.deepEqual(problems(base('', '[{ key: "header:", limit: 0, window: 1s, mode: strict }]')).map((p) => p.split(':')[0]), [
      'routes[0].rateLimit[0].key',
      'routes[0].rateLimit[0].limit',
      'routes[0].rateLimit[0].mode',
    ]);
    assert.match(problems(base('', '[{ key: ip, limit: 5, window: 500ms }]'))[0]!, /^routes\[0\]\.rateLimit\[0\]\.window: must be at least 1s/);
    assert.match(problems(base('', '[{ key: ip, limit: 5, window: 1500ms }]'))[0]!, /whole number of seconds/);
    assert.match(problems(base('', '[{ key: ip, limit: 5, window: 1s, burst: 3 }]'))[0]!, /^routes\[0\]\.rateLimit\[0\]\.burst: unknown field/);
    assert.match(problems(base('', '[{ key: ip, limit: 5, window: 1s }, { key: ip, limit: 9, window: 1s }]'))[0]!, /^routes\[0\]\.rateLimit\[1\]: a second limit named "ip-1s"/);
  });

  it('requires a redis url with store: redis', () => {
    assert.deepEqual(problems(base('rateLimit: { store: redis }', '[]')), ['rateLimit.redis.url: required with store: redis (or sentinels with name, or cluster)']);
    assert.match(problems(base('rateLimit: { store: redis, redis: { url: "http://x" } }', '[]'))[0]!, /^rateLimit\.redis\.url: expected a redis:\/\//);
    assert.match(problems(base('rateLimit: { stor: redis }', '[]'))[0]!, /^rateLimit\.stor: unknown field, did you mean "store"\?/);
  });

  it('accepts Sentinel and Cluster, and says what each needs', () => {
    const redis = (r: string) => base(`rateLimit: { store: redis, redis: ${r} }`, '[]');
    assert.deepEqual(problems(redis('{ sentinels: [{ host: s1, port: 26379 }], name: mymaster, password: "x" }')), []);
    assert.deepEqual(problems(redis('{ cluster: [{ host: n1, port: 7000 }, "redis://n2:7000"] }')), []);
    assert.deepEqual(problems(redis('{ sentinels: [{ host: s1, port: 26379 }] }')), ['rateLimit.redis.name: required with sentinels: the master group name the sentinels monitor']);
    assert.match(problems(redis('{ url: "redis://a", cluster: [{ host: n1, port: 7000 }] }'))[0]!, /^rateLimit\.redis: use one of url, sentinels or cluster, not url and cluster/);
    assert.match(problems(redis('{ url: "redis://a", password: x }'))[0]!, /^rateLimit\.redis\.password: only applies with sentinels or cluster/);
    assert.match(problems(redis('{ cluster: ["http://n1:7000"] }'))[0]!, /^rateLimit\.redis\.cluster\[0\]: expected/);
    assert.match(problems(redis('{ cluster: [{ host: n1, port: 7000 }], prefix: "gw{x}:" }'))[0]!, /^rateLimit\.redis\.prefix: must not contain "\{" or "\}" with cluster/);
    assert.match(problems(redis('{ sentinels: [{ host: s1 }], name: m }'))[0]!, /^rateLimit\.redis\.sentinels\[0\]\.port: required/);
  });
});
