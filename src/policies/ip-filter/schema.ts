/**
 * The config the IP filter owns: route-level `ipFilter` (also in `defaults`) and the top-level
 * `ipFilter`, which runs before route matching for every request (the `ip-filter-global` policy).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../../config/types.js';

const CidrList = (description: string) => Type.Optional(Type.Array(Type.String({ format: 'cidr' }), { description }));

export const IpFilterSchema = Strict(
  {
    allow: CidrList('Only client addresses in these CIDRs (or single addresses) are let through; absent: every address not denied.'),
    deny: CidrList('Client addresses in these CIDRs are refused with 403 GW_ERR_IP_FORBIDDEN; deny wins over allow.'),
  },
  {
    description:
      'Allow and deny lists on the client address (after server.trustedProxies). Denied: 403 GW_ERR_IP_FORBIDDEN. At the top level it runs before route matching for every request; on a route (or in defaults) for that route, in addition to the top-level one.',
  },
);

export type IpFilterConfig = Static<typeof IpFilterSchema>;

export const ipFilterRouteFields = { ipFilter: Type.Optional(IpFilterSchema) };
export const ipFilterGlobalFields = { ipFilter: Type.Optional(IpFilterSchema) };
