import { compileSnapshot, describeRoutes, disposeSnapshot } from '../router/compile.js';
import { PoolSet } from '../upstream/upstream.js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { dirname, resolve } from 'node:path';
import { loadForCli, reportProblems } from './load.js';
import { ConfigError } from '../errors.js';
import { NO_METRICS } from '../pipeline/policy.js';
import type { Command } from './command.js';

export const validateCommand: Command = {
  name: 'validate',
  usage: 'validate [FILE]',
  summary: 'Check a config file and print the compiled route table (most specific first).',
  options: { json: { type: 'boolean' } },
  async run(values, positionals) {
    const file = positionals[0] ?? 'gateway.yaml';
    const loaded = await loadForCli(file);
    if (!loaded) return 1;
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
      reportProblems(file, err, false);
      return 1;
    }
    await disposeSnapshot(snapshot);
    await pools.closeAll();
    const table = describeRoutes(snapshot) as Array<Record<string, unknown> & { match: Record<string, unknown> }>;
    if (values['json']) {
      console.log(JSON.stringify({ ok: true, routes: table, warnings: snapshot.warnings }, null, 2));
      return 0;
    }
    console.log(`${file}: ok, ${table.length} route${table.length === 1 ? '' : 's'} (first match wins, in this order)`);
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
