// An example plugin: every request on a route with `tenant:` must name a known tenant in a header.
// The tenant goes upstream as X-Tenant-Id, unknown tenants get a local 403, and a counter per tenant
// is kept in the gateway's /metrics. Load it with `plugins: ["./examples/plugins/tenant.js"]`.
// Plain JavaScript with JSDoc types; a TypeScript plugin is the same code compiled (see docs/policies.md).
import { Counter } from 'prom-client';
import { definePolicy, Type } from 'gatewayd';

const TenantConfig = Type.Object(
  {
    header: Type.String({ default: 'x-tenant', pattern: '^[a-z0-9-]+$', description: 'Request header that names the tenant (lower-case).' }),
    allow: Type.Array(Type.String({ pattern: '^[a-z0-9-]+$' }), { minItems: 1, description: 'Known tenants.' }),
  },
  { additionalProperties: false, description: 'Tenant check: the request must name one of `allow` in `header`.' },
);

export default definePolicy({
  name: 'tenant',
  phase: 'auth',
  order: 20,
  config: TenantConfig,

  validate(view, problems) {
    for (const route of view.routes) {
      if (route.config !== undefined && new Set(route.config.allow).size !== route.config.allow.length) {
        problems.add(`${route.at}.tenant.allow`, 'lists a tenant twice');
      }
    }
  },

  // One counter per gateway, kept across reloads (prom-client refuses a second registration).
  setup(_view, services, previous) {
    return (
      previous ??
      /** @type {Counter<'tenant'>} */ (services.registry.getSingleMetric('tenant_requests_total')) ??
      new Counter({ name: 'tenant_requests_total', help: 'Requests by tenant.', labelNames: ['tenant'], registers: [services.registry] })
    );
  },

  create(config, { shared: counter }) {
    const allowed = new Set(config.allow);
    return {
      onRequest(ctx) {
        const tenant = ctx.header(config.header);
        if (tenant === undefined) {
          return { status: 400, headers: { 'content-type': 'text/plain' }, body: `missing ${config.header} header\n` };
        }
        if (!allowed.has(tenant)) return { status: 403, headers: { 'content-type': 'text/plain' }, body: 'unknown tenant\n' };
        counter.inc({ tenant });
        ctx.setRequestHeader('x-tenant-id', tenant);
        ctx.removeUpstreamHeader(config.header);
        return undefined;
      },
      onResponse(_ctx, head) {
        head.headers['x-served-for'] = 'tenant-policy';
      },
    };
  },
});
