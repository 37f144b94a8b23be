/**
 * The config fields each built-in policy owns, spread into the route, `defaults` and top-level
 * schemas (src/config/schema.ts). Adding a policy adds its line here and one in ./index.ts.
 */
import { jwtGlobalFields, jwtRouteFields } from './jwt-auth/schema.js';
import { rateLimitGlobalFields, rateLimitRouteFields } from './rate-limit/schema.js';

export const policyRouteFields = {
  ...jwtRouteFields,
  ...rateLimitRouteFields,
};

export const policyGlobalFields = {
  ...jwtGlobalFields,
  ...rateLimitGlobalFields,
};
