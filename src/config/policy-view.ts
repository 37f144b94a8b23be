/** How the policy registry meets the config: the order policies run in, and what each sees of the config. */
import { PHASES, policyField, policyGlobalField, type AnyPolicy, type PolicyConfigView } from '../pipeline/contract.js';
import type { Config } from './schema.js';

/** Policies in the order their hooks run: by phase, then order, then name (a stable tie-break). */
export function sortPolicies(policies: readonly AnyPolicy[]): AnyPolicy[] {
  return [...policies].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase) || a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What a policy sees of the config: its own fields (defaults merged into each route) and the whole document. */
export function policyView(policy: AnyPolicy, config: Config): PolicyConfigView {
  const field = policyField(policy);
  const doc = config as unknown as Record<string, unknown>;
  const defaults = (config.defaults as Record<string, unknown> | undefined)?.[field];
  return {
    global: doc[policy.phase === 'pre-route' ? field : policyGlobalField(policy)],
    defaults,
    routes: (config.routes ?? []).map((r, i) => {
      const own = (r as unknown as Record<string, unknown>)[field];
      return { at: `routes[${i}]`, name: r.name, config: own !== undefined ? own : defaults };
    }),
    document: doc,
  };
}

