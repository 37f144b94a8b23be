import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { importOptional, missingPackageProblems, OTLP_PACKAGES } from './optional-packages.js';
import { validateConfig } from './validate.js';

const config = (extra: Record<string, unknown>) => ({
  upstreams: { b: { targets: [{ url: 'http://127.0.0.1:9' }] } },
  routes: [{ name: 'r', match: { pathPrefix: '/' }, upstream: 'b' }],
  ...extra,
});

/** A lookup in which `missing` are not installed (and everything else is). */
const without =
  (...missing: string[]) =>
  (specifier: string) => {
    if (missing.includes(specifier)) throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
  };

function problems(input: unknown, resolvePackage: (s: string) => void): readonly string[] {
  try {
    validateConfig(input, undefined, { resolvePackage });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
}

describe('optional packages', () => {
  it('logging.format: pretty without pino-pretty is a config problem naming the package and the install command', () => {
    assert.deepEqual(problems(config({ logging: { format: 'pretty' } }), without('pino-pretty')), [
      'logging.format: "pretty" needs the optional package pino-pretty, not installed (npm install pino-pretty)',
    ]);
    assert.deepEqual(problems(config({ logging: { format: 'json' } }), without('pino-pretty')), [], 'json logs need nothing');
  });

  it('tracing.otlp without the OpenTelemetry SDK names every missing package', () => {
    const otlp = config({ tracing: { otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces' } } });
    assert.deepEqual(problems(otlp, without(...OTLP_PACKAGES)), [
      `tracing.otlp: OTLP export needs the optional packages ${OTLP_PACKAGES.join(', ')}, not installed (npm install ${OTLP_PACKAGES.join(' ')})`,
    ]);
    assert.deepEqual(problems(otlp, without('@opentelemetry/resources')), [
      'tracing.otlp: OTLP export needs the optional package @opentelemetry/resources, not installed (npm install @opentelemetry/resources)',
    ]);
    assert.deepEqual(problems(config({}), without(...OTLP_PACKAGES)), [], 'no otlp, no SDK needed');
  });

  it('finds the packages installed here (they are devDependencies)', () => {
    assert.deepEqual(missingPackageProblems({ logging: { format: 'pretty' }, tracing: { otlp: {} } }), []);
  });

  it('a failed import() of a missing package becomes a ConfigError, not a stack trace', async () => {
    const specifier = 'gatewayd-no-such-package';
    await assert.rejects(
      importOptional(specifier, 'tracing.otlp', () => import(specifier)),
      (err: unknown) => err instanceof ConfigError && err.problems[0] === `tracing.otlp: needs the optional package ${specifier}, not installed (npm install ${specifier})`,
    );
  });
});
