/**
 * The built-in policies, in no particular order: each declares its phase and order, and the
 * snapshot compiler sorts them. Adding a policy adds one line here and one in ./fields.ts (its
 * config fields in the schema). Whoever composes a gateway passes this list on, with any plugins.
 */
import type { AnyPolicy } from '../pipeline/contract.js';
import { apiKeyPolicy } from './api-key/policy.js';
import { corsGlobalPolicy, corsPolicy } from './cors/policy.js';
import { headersPolicy } from './headers/policy.js';
import { ipFilterGlobalPolicy, ipFilterPolicy } from './ip-filter/policy.js';
import { jwtAuthPolicy } from './jwt-auth/policy.js';
import { rateLimitPolicy } from './rate-limit/policy.js';

export const BUILTIN_POLICIES: readonly AnyPolicy[] = Object.freeze([
  ipFilterGlobalPolicy,
  corsGlobalPolicy,
  ipFilterPolicy,
  corsPolicy,
  apiKeyPolicy,
  jwtAuthPolicy,
  rateLimitPolicy,
  headersPolicy,
]);
