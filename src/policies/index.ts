/**
 * The built-in policies, in no particular order: each declares its phase and order, and the
 * snapshot compiler sorts them. Adding a policy adds one line here and one in ./fields.ts.
 */
import type { PolicyDefinition } from '../pipeline/policy.js';
import { jwtAuthPolicy } from './jwt-auth/policy.js';
import { rateLimitPolicy } from './rate-limit/policy.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each policy has its own Shared type
export const POLICIES: readonly PolicyDefinition<any>[] = [
  jwtAuthPolicy,
  rateLimitPolicy,
];
