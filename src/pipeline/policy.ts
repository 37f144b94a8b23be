/**
 * The policy contract lives in ./contract.ts (the pipeline's leaf module); this module keeps the
 * older names the built-in policies and extensions import.
 */
export * from './contract.js';
export type { PolicyHooks as RouteHooks, PolicyServices as GatewayServices } from './contract.js';
