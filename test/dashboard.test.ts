/**
 * The shipped Grafana dashboard (dashboards/grafana.json) against a real gateway: every PromQL
 * expression parses (the Prometheus project's own PromQL grammar), and every metric it reads is in
 * a /metrics scrape of a gateway that served some traffic — a proxied request, a 404, a 429, a 401,
 * an upstream failure and a failed JWKS fetch — so each family has its label sets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parser } from '@prometheus-io/lezer-promql';
import { startDemoBackend, startGateway, waitFor, type DemoBackend, type TestGateway } from './helpers.js';

interface Target {
  expr: string;
}
interface Panel {
  title: string;
  targets: Target[];
  fieldConfig: { defaults: { unit?: string } };
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Array<{ name: string; definition: string }> };
}

const dashboard = JSON.parse(readFileSync(new URL('../dashboards/grafana.json', import.meta.url), 'utf8')) as Dashboard;

/** Grafana's own syntax around PromQL: query_result(…) / label_values(…, label) and $__ intervals. */
function promql(text: string): string {
  return text
    .replace(/^query_result\((.*)\)$/s, '$1')
    .replace(/^label_values\((.*),\s*\w+\)$/s, '$1')
    .replaceAll('$__rate_interval', '5m');
}

/** Metric names of the vector selectors of an expression; throws on a syntax error. */
function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const errors: number[] = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errors.push(n.from);
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) names.push(expr.slice(id.from, id.to));
      }
    },
  });
  if (errors.length > 0) throw new Error(`PromQL syntax error at ${errors.join(', ')} in ${expr}`);
  return names;
}

const expressions = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: promql(t.expr) }))),
  ...dashboard.templating.list.map((v) => ({ where: `variable $${v.name}`, expr: promql(v.definition) })),
];

describe('dashboards/grafana.json', () => {
  let backend: DemoBackend;
  let gw: TestGateway;
  let scrape = '';
  let notFoundType = '';

  before(async () => {
    backend = await startDemoBackend();
    gw = await startGateway(`
metrics: { enabled: true, processMetrics: true }
jwt:
  issuers:
    - { name: local, issuer: https://auth.local, algorithms: [HS256], secret: "0123456789abcdef0123456789abcdef" }
    - { name: gone, issuer: https://gone.local, algorithms: [RS256], jwksUri: "http://127.0.0.1:1/jwks.json" }
upstreams:
  backend: { targets: [{ url: ${backend.url} }] }
  closed: { targets: [{ url: "http://127.0.0.1:1" }] }
routes:
  - { name: api, match: { pathPrefix: /api }, upstream: backend, rateLimit: [{ key: ip, limit: 1, window: 1m }] }
  - { name: private, match: { pathPrefix: /private }, upstream: backend, auth: { jwt: required } }
  - { name: broken, match: { pathPrefix: /broken }, upstream: closed }
`);
    const statuses = [];
    for (const path of ['/api/a', '/api/b', '/nowhere', '/private', '/broken']) {
      const r = await fetch(gw.url + path);
      if (r.status === 404) notFoundType = ((await r.json()) as { type: string }).type;
      else await r.body?.cancel();
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [200, 429, 404, 401, 502]);
    await waitFor(async () => {
      scrape = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      return /^gateway_jwks_fetch_errors_total\{/m.test(scrape) && /^gateway_http_requests_total\{route="broken"/m.test(scrape);
    }, 5000, 'the scrape to show the traffic');
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  it('every expression is valid PromQL (the parser does report errors)', () => {
    assert.throws(() => metricNames('sum(rate(x[5m])'), /syntax error/);
    for (const { where, expr } of expressions) assert.doesNotThrow(() => metricNames(expr), where);
  });

  it('every metric an expression reads has samples in a real scrape', () => {
    const names = new Set(expressions.flatMap(({ expr }) => metricNames(expr)));
    assert.ok(names.size >= 10, `found ${names.size} metric names`);
    const missing = [...names].filter((name) => !new RegExp(`^${name}(\\{| )`, 'm').test(scrape));
    assert.deepEqual(missing, [], 'metrics the dashboard reads but the gateway does not export');
  });

  it('unmatched requests are a choice of the route variable, and no panel mixes units on one axis', () => {
    const route = dashboard.templating.list.find((v) => v.name === 'route')!;
    assert.match(route.definition, /"\(unmatched\)", "route", ""/);
    assert.match(scrape, /^gateway_http_requests_total\{route="",method="GET",status="404"\} 1$/m, 'the 404 is counted with route=""');
    // (The 404's body: its problem type is a docs path the project publishes, not someone else's domain.)
    assert.equal(notFoundType, 'about:blank');
    for (const p of dashboard.panels) {
      const names = p.targets.flatMap((t) => metricNames(promql(t.expr)));
      const seconds = names.some((n) => /_seconds(_bucket|_sum|_count)?$/.test(n) && !n.startsWith('process_cpu'));
      const cpu = names.some((n) => n.startsWith('process_cpu'));
      assert.ok(!(seconds && cpu), `panel "${p.title}" mixes CPU and seconds`);
    }
  });
});
