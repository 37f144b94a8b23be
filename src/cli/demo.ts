import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Config } from '../config/schema.js';
import { writeSelfSigned } from '../util/self-signed.js';
import { fileURLToPath } from 'node:url';
import { startDemoBackend } from '../demo-backend.js';
import { Gateway } from '../gateway.js';
import { loadForCli } from './load.js';
import { str, type Command } from './command.js';

export const EXAMPLE_CONFIG = fileURLToPath(new URL('../../gateway.example.yaml', import.meta.url));

export const demoCommand: Command = {
  name: 'demo',
  usage: 'demo [--config gateway.example.yaml]',
  summary: 'Start the demo backend on :9000 and the gateway on :8000 with the bundled example config.',
  help: `
  -c, --config FILE   config (default: the bundled gateway.example.yaml)`,
  options: { config: { type: 'string', short: 'c' } },
  async run(values) {
    const file = str(values['config']) ?? EXAMPLE_CONFIG;
    process.env['DEMO_BACKEND_URL'] ??= 'http://127.0.0.1:9000';
    const loaded = await loadForCli(file);
    if (!loaded) return 1;
    let backend;
    try {
      backend = await startDemoBackend(9000);
    } catch (err) {
      console.error(`gateway demo: cannot start the demo backend on 127.0.0.1:9000 (${(err as NodeJS.ErrnoException).code}); is something else using the port?`);
      return 1;
    }
    const gateway = await Gateway.create({ config: loaded.config, warnings: loaded.warnings, policies: loaded.policies });
    try {
      await gateway.start();
    } catch (err) {
      console.error(`gateway demo: cannot start the gateway (${(err as Error).message})`);
      await backend.close();
      return 1;
    }
    // The same routes over HTTPS and HTTP/2 on :8443, with a throwaway self-signed certificate
    // (skipped when openssl is missing or the port is taken).
    let secure: Gateway | undefined;
    try {
      const pair = writeSelfSigned(mkdtempSync(join(tmpdir(), 'gateway-demo-tls-')), ['localhost', '127.0.0.1']);
      const config = structuredClone(loaded.config) as Config;
      config.server.port = 8443;
      config.server.tls = { certificates: [pair], minVersion: 'TLSv1.2', clientCertRequired: true, watch: false };
      config.admin.enabled = false;
      secure = await Gateway.create({ config, policies: loaded.policies });
      await secure.start();
    } catch (err) {
      await secure?.close(0);
      secure = undefined;
      console.error(`gateway demo: no HTTPS listener (${(err as Error).message})`);
    }
    const base = `http://127.0.0.1:${gateway.port}`;
    // Name the config explicitly: a ./gateway.yaml would otherwise be the token tool's default.
    const tokenConfig = ` --config ${relative(process.cwd(), file) || file}`;
    console.log(`
Demo running: gateway ${base} -> demo backend ${backend.url}; admin http://127.0.0.1:${gateway.adminPort}

Try:
  curl -i ${base}/api/users/42
  curl -i ${base}/api/nothing-here
  curl -i -H "Authorization: Bearer $(node dist/cli.js token${tokenConfig} --issuer local --sub alice --scope orders:read)" ${base}/api/orders/7
  curl -s http://127.0.0.1:${gateway.adminPort}/routes
${secure ? `  curl -k --http2 -i https://localhost:${secure.port}/api/users/42     # HTTPS + HTTP/2, self-signed certificate
` : ''}
Ctrl-C stops both.
`);
    const stop = () =>
      void Promise.all([gateway.close(), secure?.close(), backend.close()]).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return -1;
  },
};
