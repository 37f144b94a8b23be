/**
 * The chain runner. Request hooks run in order and stop at the first local reply; a hook that
 * returns synchronously costs no promise. Response hooks run in reverse; log hooks always run,
 * exactly once, even when another hook threw.
 */
import { GatewayError } from '../errors.js';
import type { RequestContext } from './context.js';
import type { HookResult, RouteHooks } from './policy.js';

export type ChainDone = (ctx: RequestContext, reply: GatewayError | undefined) => void;

function isThenable(v: unknown): v is PromiseLike<HookResult> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}

function failed(ctx: RequestContext, hook: RouteHooks, err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, 'policy failed');
  return new GatewayError('GW_ERR_INTERNAL');
}

export function runRequestHooks(hooks: readonly RouteHooks[], ctx: RequestContext, done: ChainDone, from = 0): void {
  for (let i = from; i < hooks.length; i++) {
    const hook = hooks[i]!;
    let result: HookResult | Promise<HookResult>;
    try {
      result = hook.onRequest!(ctx);
    } catch (err) {
      done(ctx, failed(ctx, hook, err));
      return;
    }
    if (isThenable(result)) {
      result.then(
        (r) => {
          if (ctx.done) return; // the client went away while we waited
          if (r) done(ctx, r);
          else runRequestHooks(hooks, ctx, done, i + 1);
        },
        (err: unknown) => {
          if (!ctx.done) done(ctx, failed(ctx, hook, err));
        },
      );
      return;
    }
    if (result) {
      done(ctx, result);
      return;
    }
  }
  done(ctx, undefined);
}

export function runResponseHooks(hooks: readonly RouteHooks[], ctx: RequestContext, headers: Record<string, string | string[] | number>): void {
  for (let i = hooks.length - 1; i >= 0; i--) {
    const hook = hooks[i]!;
    try {
      hook.onResponse!(ctx, headers);
    } catch (err) {
      ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, 'response hook failed');
    }
  }
}

export function runLogHooks(hooks: readonly RouteHooks[], ctx: RequestContext): void {
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    try {
      hook.onLog!(ctx);
    } catch (err) {
      ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, 'log hook failed');
    }
  }
}
