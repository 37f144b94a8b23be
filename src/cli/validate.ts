import { compileSnapshot, describeRoutes, disposeSnapshot } from '../router/compile.js';
import { PoolSet } from '../upstream/upstream.js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { dirname, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { reportProblems } from './load.js';
import { ConfigError } from '../errors.js';
import { NO_METRICS } from '../pipeline/policy.js';
import type { ValidationResult } from '../config/validate.js';
import { str, type Command } from './command.js';

/** `routes[1].upstream: unknown upstream …` → { path, message }; a YAML problem's path is file:line:col. */
export function splitProblem(problem: string): { path: string; message: string } {
  const at = problem.indexOf(': ');
  return at < 0 ? { path: '(root)', message: problem } : { path: problem.slice(0, at), message: problem.slice(at + 2) };
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

export const validateCommand: Command = {
  name: 'validate',
  usage: 'validate [FILE | --config FILE] [--json]',
  summary: 'Check a config file and print the compiled route table (most specific first).',
  help: `
  FILE, -c, --config FILE   the config file (default ./gateway.yaml); --config as start, explain,
                            test and token take it
  --json    print JSON on standard output instead: {"ok":true,"routes":[…],"warnings":[…]}, or
            {"ok":false,"code":"GW_ERR_CONFIG_INVALID","problems":[{"path","message"}],"warnings":[]}
            for any problem (a missing file and YAML syntax errors too). Exit status 0 or 1 either way
            (2 for bad usage, such as two different files).`,
  options: { json: { type: 'boolean' }, config: { type: 'string', short: 'c' } },
  async run(values, positionals) {
    const flag = str(values['config']);
    if (flag !== undefined && positionals[0] !== undefined && resolve(flag) !== resolve(positionals[0])) {
      console.error(`gateway validate: two config files given (${positionals[0]} and --config ${flag}): pass one`);
      return 2;
    }
    const file = flag ?? positionals[0] ?? 'gateway.yaml';
    const asJson = values['json'] === true;
    const invalid = (err: ConfigError): number => {
      if (asJson) printJson({ ok: false, code: err.code, problems: err.problems.map(splitProblem), warnings: [] });
      else reportProblems(file, err, false);
      return 1;
    };
    let loaded: ValidationResult;
    try {
      loaded = await loadConfigFile(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return invalid(err);
    }
    const pools = new PoolSet();
    let snapshot;
    try {
      snapshot = await compileSnapshot(loaded.config, loaded.warnings, {
        services: { logger: pino({ level: 'silent' }), metrics: NO_METRICS, registry: new Registry(), env: process.env, configDir: dirname(resolve(file)) },
        pools,
        policies: loaded.policies,
      });
    } catch (err) {
      await pools.closeAll();
      // Problems only found while compiling (an unreadable key file …): same report as validation.
      if (!(err instanceof ConfigError)) throw err;
      return invalid(err);
    }
    await disposeSnapshot(snapshot);
    await pools.closeAll();
    const table = describeRoutes(snapshot) as Array<Record<string, unknown> & { match: Record<string, unknown> }>;
    if (asJson) {
      printJson({ ok: true, routes: table, warnings: snapshot.warnings });
      return 0;
    }
    console.log(`${file}: ok, ${table.length} route${table.length === 1 ? '' : 's'} (most specific first: README "Which route wins")`);
    const rows = table.map((r, i) => {
      const m = r.match;
      const path = (m['path'] ?? `${String(m['pathPrefix'])}/**`) as string;
      const hosts = Array.isArray(m['hosts']) ? (m['hosts'] as string[]).join(',') : '*';
      const methods = Array.isArray(m['methods']) ? (m['methods'] as string[]).join(',') : '*';
      return [String(i + 1), String(r['name']), hosts, methods, path, `→ ${String(r['upstream'])}`, ((r['policies'] as string[]) ?? []).join(',')];
    });
    const head = ['#', 'route', 'host', 'methods', 'path', 'upstream', 'policies'];
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
    for (const row of [head, ...rows]) console.log('  ' + row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    for (const w of snapshot.warnings) console.log(`warning: ${w}`);
    return 0;
  },
};
