/**
 * IP allow / deny lists (Kong's ip-restriction, nginx's allow/deny): the client address — after
 * server.trustedProxies, so X-Forwarded-For counts only from a trusted balancer — is checked against
 * CIDR lists compiled once into node:net BlockLists. Deny wins over allow; with an allow list, an
 * address outside it is refused too. Two definitions share the code: `ip-filter` on routes (phase
 * auth, first) and `ip-filter-global` at the top level (pre-route: it also guards requests no route
 * matches).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { GatewayError } from '../../errors.js';
import { definePolicy, type PolicyConfigView, type PolicyContext, type PolicyHooks, type Problems } from '../../pipeline/contract.js';
import { canonicalIp, cidrBlockList } from '../../util/ip.js';
import { IpFilterSchema, type IpFilterConfig } from './schema.js';

/** A compiled CIDR list; undefined for an absent list. */
function compile(cidrs: readonly string[] | undefined): BlockList | undefined {
  return cidrs === undefined ? undefined : cidrBlockList(cidrs);
}

function contains(list: BlockList, ip: string): boolean {
  if (isIPv4(ip)) return list.check(ip, 'ipv4');
  if (isIPv6(ip)) return list.check(ip, 'ipv6');
  return false;
}

/** True when the address may pass. An address that is not an IP (a Unix socket peer) passes only without an allow list. */
export function ipAllowed(allow: BlockList | undefined, deny: BlockList | undefined, address: string): boolean {
  const ip = canonicalIp(address);
  if (deny !== undefined && contains(deny, ip)) return false;
  return allow === undefined || contains(allow, ip);
}

function createHooks(cfg: IpFilterConfig, name: string): PolicyHooks | undefined {
  const allow = compile(cfg.allow);
  const deny = compile(cfg.deny);
  if (allow === undefined && deny === undefined) return undefined;
  // One refusal per policy instance: a flood from a denied network allocates no errors.
  const refusal = new GatewayError('GW_ERR_IP_FORBIDDEN');
  return {
    policy: name,
    onRequest(ctx: PolicyContext) {
      return ipAllowed(allow, deny, ctx.clientIp) ? undefined : refusal;
    },
  };
}

function check(at: string, cfg: IpFilterConfig | undefined, p: Problems): void {
  if (cfg === undefined) return;
  if (cfg.allow === undefined && cfg.deny === undefined) p.add(at, 'set allow, deny or both');
  else if (cfg.allow !== undefined && cfg.allow.length === 0) p.add(`${at}.allow`, 'an empty allow list refuses every client; remove the field to allow all');
}

export const ipFilterPolicy = definePolicy({
  name: 'ip-filter',
  phase: 'auth',
  order: 0,
  field: 'ipFilter',
  config: IpFilterSchema,
  // The top-level field belongs to ip-filter-global.
  globalField: 'ipFilter',
  timeout: 0,
  validate(view: PolicyConfigView<IpFilterConfig>, p) {
    check('defaults.ipFilter', view.defaults, p);
    const doc = view.document as { routes?: readonly Record<string, unknown>[] };
    view.routes.forEach((r, i) => {
      if (doc.routes?.[i]?.['ipFilter'] !== undefined) check(`${r.at}.ipFilter`, r.config, p);
    });
  },
  create: (cfg) => createHooks(cfg, 'ip-filter'),
});

export const ipFilterGlobalPolicy = definePolicy({
  name: 'ip-filter-global',
  phase: 'pre-route',
  order: 0,
  field: 'ipFilter',
  config: IpFilterSchema,
  timeout: 0,
  validate: (view: PolicyConfigView<unknown, IpFilterConfig>, p) => check('ipFilter', view.global, p),
  create: (cfg) => createHooks(cfg, 'ip-filter-global'),
});
