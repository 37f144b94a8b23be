/**
 * The package API (`import { createGateway, definePolicy } from 'gatewayd'`): run the gateway from
 * a program, mount it in another server, and write policies with the same contract the built-in
 * ones use. See README "Library mode" and docs/policies.md.
 */
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { loadConfigFile, validateWithPlugins } from './config/load.js';
import { Gateway } from './gateway.js';
import type { AnyPolicy } from './pipeline/contract.js';
import { BUILTIN_POLICIES } from './policies/index.js';
import { withPolicies } from './config/plugins.js';

export { definePolicy, PHASES, NO_HOOKS } from './pipeline/contract.js';
export type {
  AnyPolicy,
  CreateServices,
  GatewayMetrics,
  HookResult,
  LocalReply,
  Phase,
  PolicyConfigView,
  PolicyContext,
  PolicyDefinition,
  PolicyHooks,
  PolicyServices,
  Principal,
  Problems,
  ResponseHead,
  RouteInfo,
} from './pipeline/contract.js';
export { ConfigError, GatewayError, ERRORS, type ErrorCode } from './errors.js';
export type { Config, RouteConfig, UpstreamConfig } from './config/schema.js';
export { Type, type Static, type TSchema } from '@sinclair/typebox';
export type { Gateway } from './gateway.js';
export type { ReloadResult } from './config/reload.js';
export { BUILTIN_POLICIES } from './policies/index.js';

export interface CreateGatewayOptions {
  /** Policies to add to the built-ins (plugin objects; a config's `plugins:` list is loaded as well). */
  policies?: readonly AnyPolicy[];
  /** A pino logger to use instead of one made from `logging`. */
  logger?: Logger;
  /** Where `${VAR}` and policies read the environment (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** For a config object: the directory its relative paths (plugins, key files) are resolved from (default the working directory). */
  baseDir?: string;
}

/** The registry for a library user: built-ins plus the policy objects passed in, checked like plugins. */
function registry(extra: readonly AnyPolicy[] | undefined): readonly AnyPolicy[] {
  if (extra === undefined || extra.length === 0) return BUILTIN_POLICIES;
  return withPolicies(
    BUILTIN_POLICIES,
    extra.map((def, i) => ({ def, at: `policies[${i}]` })),
  );
}

/** Read and validate a config file (and the plugins it lists). Throws ConfigError with one line per problem. */
export async function loadConfig(
  file: string,
  opts: Pick<CreateGatewayOptions, 'policies' | 'env'> = {},
): Promise<{ config: Config; warnings: string[]; policies: readonly AnyPolicy[] }> {
  return loadConfigFile(file, opts.env ?? process.env, registry(opts.policies));
}

/**
 * Validate a config given as a plain object (as parsed from YAML or JSON, `${VAR}` already
 * substituted). Throws ConfigError with the same problems `gateway validate` prints; returns the
 * frozen Config with defaults filled in.
 */
export async function validateConfig(
  input: unknown,
  opts: Pick<CreateGatewayOptions, 'policies' | 'baseDir'> = {},
): Promise<{ config: Config; warnings: string[]; policies: readonly AnyPolicy[] }> {
  return validateWithPlugins(input, opts.baseDir ?? process.cwd(), registry(opts.policies));
}

/**
 * Build a gateway from a config file path or a config object. Nothing listens until start();
 * `handler` serves requests inside another server without it.
 */
export async function createGateway(config: string | object, opts: CreateGatewayOptions = {}): Promise<Gateway> {
  const env = opts.env ?? process.env;
  const loaded = typeof config === 'string' ? await loadConfig(config, opts) : await validateConfig(config, opts);
  const configDir = typeof config === 'string' ? dirname(resolve(config)) : (opts.baseDir ?? process.cwd());
  return Gateway.create({
    config: loaded.config,
    warnings: loaded.warnings,
    policies: loaded.policies,
    basePolicies: registry(opts.policies),
    logger: opts.logger,
    env,
    configDir,
    ...(typeof config === 'string' ? { configFile: resolve(config) } : {}),
  });
}
