/**
 * The chain runner. Request hooks run in order and stop at the first local reply; a hook that
 * returns synchronously costs no promise and no timer. An async hook has its policy's time budget.
 * Response hooks run in reverse; done hooks always run, exactly once, even when another hook threw.
 * A hook that throws, rejects or runs out of time fails the request with 500 GW_ERR_POLICY_FAILED;
 * the log line names the policy, the reply does not.
 */
import { GatewayError } from '../errors.js';
import type { HookLists, HookResult, LocalReply, PolicyHooks, ResponseHead } from './contract.js';
import type { RequestContext } from './context.js';

/** Where the chain ends: a local reply (or refusal) to send, or undefined to go on to the terminal step. */
export type ChainDone = (ctx: RequestContext, reply: LocalReply | GatewayError | undefined) => void;

function isThenable(v: unknown): v is PromiseLike<HookResult> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}

function failed(ctx: RequestContext, hook: PolicyHooks, err: unknown, what = 'policy failed'): GatewayError {
  ctx.repliedBy = hook.policy ?? '';
  ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, what);
  return new GatewayError('GW_ERR_POLICY_FAILED');
}

/** What a hook threw or rejected with: a GatewayError is its refusal, anything else a failure. */
function thrown(ctx: RequestContext, hook: PolicyHooks, err: unknown): GatewayError {
  if (!(err instanceof GatewayError)) return failed(ctx, hook, err);
  ctx.repliedBy = hook.policy ?? '';
  return err;
}

/** A hook's result as a reply, or undefined to go on; anything else a hook may return is a policy bug. */
function asReply(ctx: RequestContext, hook: PolicyHooks, r: HookResult): LocalReply | GatewayError | undefined {
  if (r === undefined || r === null) return undefined;
  if (r instanceof GatewayError) {
    ctx.repliedBy = hook.policy ?? '';
    return r;
  }
  if (typeof r === 'object' && Number.isInteger(r.status) && r.status >= 200 && r.status <= 599) {
    ctx.repliedBy = hook.policy ?? '';
    return r;
  }
  return failed(ctx, hook, new TypeError(`onRequest returned ${JSON.stringify(r)}: expected nothing, a LocalReply with a status of 200-599, or a GatewayError`));
}

function awaitHook(lists: HookLists, ctx: RequestContext, done: ChainDone, i: number, result: PromiseLike<HookResult>): void {
  const hook = lists.request[i]!;
  const budget = lists.timeouts[i]!;
  let settled = false;
  const timer =
    budget > 0
      ? setTimeout(() => {
          if (settled) return;
          settled = true;
          if (!ctx.done) done(ctx, failed(ctx, hook, new Error(`onRequest did not settle within ${budget} ms`), 'policy timed out'));
        }, budget)
      : undefined;
  result.then(
    (r) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (ctx.done) return; // the client went away while we waited
      const reply = asReply(ctx, hook, r);
      if (reply !== undefined) done(ctx, reply);
      else runRequestHooks(lists, ctx, done, i + 1);
    },
    (err: unknown) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (!ctx.done) done(ctx, thrown(ctx, hook, err));
    },
  );
}

export function runRequestHooks(lists: HookLists, ctx: RequestContext, done: ChainDone, from = 0): void {
  const hooks = lists.request;
  for (let i = from; i < hooks.length; i++) {
    const hook = hooks[i]!;
    let result: HookResult | Promise<HookResult>;
    try {
      result = hook.onRequest!(ctx);
    } catch (err) {
      done(ctx, thrown(ctx, hook, err));
      return;
    }
    if (result === undefined) continue;
    if (isThenable(result)) {
      awaitHook(lists, ctx, done, i, result);
      return;
    }
    const reply = asReply(ctx, hook, result);
    if (reply !== undefined) {
      done(ctx, reply);
      return;
    }
  }
  done(ctx, undefined);
}

export function runResponseHooks(lists: HookLists, ctx: RequestContext, head: ResponseHead): void {
  const hooks = lists.response;
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    try {
      hook.onResponse!(ctx, head);
    } catch (err) {
      ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, 'response hook failed');
    }
  }
}

export function runDoneHooks(lists: HookLists, ctx: RequestContext): void {
  const hooks = lists.done;
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    try {
      hook.onDone!(ctx);
    } catch (err) {
      ctx.log.error({ event: 'policy.error', policy: hook.policy, err }, 'done hook failed');
    }
  }
}
