import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { ConfigError } from '../errors.js';
import { loadTestFile, renderReport, runTests } from '../explain/route-tests.js';
import { str, type Command } from './command.js';
import { openOffline } from './explain.js';

export const testCommand: Command = {
  name: 'test',
  usage: 'test [--config FILE] [--json] FILE',
  summary: 'Run route tests (requests with the route, upstream URL or status expected) against a config (no listeners).',
  help: `
  FILE                a test file, e.g. routes.test.yaml (format: README "Route tests")
  -c, --config FILE   config file (default: the test file's config:, else ./gateway.yaml)
  --json              the report as JSON

Every request runs through the gateway's own handler and policies over an in-memory connection;
upstreams are never contacted. Exit 0 when every case passes, 1 when one fails (or the config is
invalid), 2 for bad usage or an unusable test file.`,
  options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) {
      console.error(`gateway test: expected one test file\n\nUsage: gateway ${testCommand.usage}`);
      return 2;
    }
    const file = positionals[0]!;
    let tests;
    try {
      tests = await loadTestFile(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
      for (const p of err.problems) console.error(`  ${p}`);
      return 2;
    }
    const config = str(values['config']) ?? tests.config ?? 'gateway.yaml';
    if (str(values['config']) === undefined && tests.config === undefined && !existsSync(config)) {
      console.error(`gateway test: no config: pass --config FILE or set config: in ${file} (no ./gateway.yaml here)`);
      return 2;
    }
    const gw = await openOffline(config);
    if (!gw) return 1;
    try {
      const report = await runTests(gw, file, relative(process.cwd(), config) || config, tests);
      process.stdout.write(values['json'] ? JSON.stringify({ ok: report.failed === 0, ...report }, null, 2) + '\n' : renderReport(report));
      for (const n of gw.notes) if (!values['json']) console.log(`note: ${n}`);
      return report.failed === 0 ? 0 : 1;
    } finally {
      await gw.close();
    }
  },
};
