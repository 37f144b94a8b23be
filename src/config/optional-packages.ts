/**
 * Packages only some configs need are optional peer dependencies (not installed with gatewayd):
 * pino-pretty for `logging.format: pretty`, the OpenTelemetry SDK for `tracing.otlp`. A config that
 * switches such a feature on without its package fails validation with the install command, instead
 * of a module-not-found stack trace at the first log line or span.
 */
import { createRequire } from 'node:module';
import { ConfigError } from '../errors.js';

/** Throws when `specifier` cannot be found from the gateway's own files. */
export type ResolvePackage = (specifier: string) => void;

const requireHere = createRequire(import.meta.url);
export const resolveInstalled: ResolvePackage = (specifier) => {
  requireHere.resolve(specifier);
};

export const PRETTY_PACKAGES = ['pino-pretty'] as const;
export const OTLP_PACKAGES = ['@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/resources', '@opentelemetry/exporter-trace-otlp-http'] as const;

/** The parts of a config that switch optional features on. */
export interface OptionalFeatureConfig {
  readonly logging?: { readonly format?: string };
  readonly tracing?: { readonly otlp?: unknown };
}

function neededBy(config: OptionalFeatureConfig): Array<{ path: string; what: string; packages: readonly string[] }> {
  const out: Array<{ path: string; what: string; packages: readonly string[] }> = [];
  if (config.logging?.format === 'pretty') out.push({ path: 'logging.format', what: '"pretty"', packages: PRETTY_PACKAGES });
  if (config.tracing?.otlp !== undefined) out.push({ path: 'tracing.otlp', what: 'OTLP export', packages: OTLP_PACKAGES });
  return out;
}

export function installHint(packages: readonly string[]): string {
  return `npm install ${packages.join(' ')}`;
}

/** One problem per feature whose packages are not all installed, naming them and the install command. */
export function missingPackageProblems(config: OptionalFeatureConfig, resolve: ResolvePackage = resolveInstalled): string[] {
  const problems: string[] = [];
  for (const f of neededBy(config)) {
    const missing = f.packages.filter((p) => {
      try {
        resolve(p);
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) {
      problems.push(`${f.path}: ${f.what} needs the optional package${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, not installed (${installHint(missing)})`);
    }
  }
  return problems;
}

/** import() an optional package; a missing one becomes a ConfigError naming it (library users may skip validation). */
export async function importOptional<T>(specifier: string, path: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError([`${path}: needs the optional package ${specifier}, not installed (${installHint([specifier])})`]);
    }
    throw err;
  }
}
