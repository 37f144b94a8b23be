/**
 * The config fields each built-in policy owns, spread into the route, `defaults` and top-level
 * schemas (src/config/schema.ts). Adding a policy adds its line here and one in ./index.ts.
 */
import { apiKeyGlobalFields, apiKeyRouteFields } from './api-key/schema.js';
import { corsGlobalFields, corsRouteFields } from './cors/schema.js';
import { headersRouteFields } from './headers/schema.js';
import { ipFilterGlobalFields, ipFilterRouteFields } from './ip-filter/schema.js';
import { jwtGlobalFields, jwtRouteFields } from './jwt-auth/schema.js';
import { rateLimitGlobalFields, rateLimitRouteFields } from './rate-limit/schema.js';

export const policyRouteFields = {
  ...ipFilterRouteFields,
  ...corsRouteFields,
  ...apiKeyRouteFields,
  ...jwtRouteFields,
  ...rateLimitRouteFields,
  ...headersRouteFields,
};

export const policyGlobalFields = {
  ...ipFilterGlobalFields,
  ...corsGlobalFields,
  ...apiKeyGlobalFields,
  ...jwtGlobalFields,
  ...rateLimitGlobalFields,
};
