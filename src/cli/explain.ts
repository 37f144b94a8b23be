import { ConfigError } from '../errors.js';
import { explain, renderExplanation } from '../explain/explain.js';
import { OfflineGateway, splitUrl, UnsendableRequest } from '../explain/offline.js';
import { str, type Command, type Values } from './command.js';
import { loadForCli, reportProblems } from './load.js';

/** `name: value` lines from -H options, as curl takes them. */
export function headerLines(values: Values[string]): [string, string][] | string {
  const out: [string, string][] = [];
  for (const h of (values as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) return `-H expects "name: value", got ${JSON.stringify(h)}`;
    out.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
  }
  return out;
}

/** Load and compile a config offline; on problems print them (like validate) and return undefined. */
export async function openOffline(file: string): Promise<OfflineGateway | undefined> {
  const loaded = await loadForCli(file);
  if (!loaded) return undefined;
  try {
    return await OfflineGateway.open(loaded, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    reportProblems(file, err, false);
    return undefined;
  }
}

export const explainCommand: Command = {
  name: 'explain',
  usage: "explain [--config FILE] METHOD URL [-H 'name: value' ...]",
  summary: 'Show how the gateway would handle a request: route and why, policies in order, upstream URL (no listeners).',
  help: `
  METHOD URL          e.g. GET https://api.example.com/users/42?x=1 (or a path: /users/42, Host: localhost)
  -H, --header LINE   a request header, "name: value" (repeatable; "host: ..." overrides the URL's host)
  -d, --data TEXT     a request body
  --remote-address IP the client's TCP address the gateway sees (default 127.0.0.1)
  -c, --config FILE   config file (default ./gateway.yaml)
  --json              the explanation as JSON

The request runs through the gateway's own handler and policies over an in-memory connection;
upstreams are never contacted (the URL they would get is recorded instead). Exit 0 when the
request was explained, whatever the gateway answered; 1 for an invalid config; 2 for bad usage.`,
  options: {
    config: { type: 'string', short: 'c' },
    header: { type: 'string', short: 'H', multiple: true },
    data: { type: 'string', short: 'd' },
    'remote-address': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.length !== 2) {
      console.error(`gateway explain: expected METHOD and URL, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}\n\nUsage: gateway ${explainCommand.usage}`);
      return 2;
    }
    const [method, url] = positionals as [string, string];
    if (!/^[A-Za-z]+$/.test(method)) {
      console.error(`gateway explain: ${JSON.stringify(method)} is not an HTTP method`);
      return 2;
    }
    const split = splitUrl(url);
    const headers = headerLines(values['header']);
    if (typeof split === 'string' || typeof headers === 'string') {
      console.error(`gateway explain: ${typeof split === 'string' ? split : headers}`);
      return 2;
    }
    const file = str(values['config']) ?? 'gateway.yaml';
    const gw = await openOffline(file);
    if (!gw) return 1;
    try {
      const remoteAddress = str(values['remote-address']);
      const data = str(values['data']);
      const e = await explain(gw, { method, url, headers, ...(data !== undefined ? { body: data } : {}), ...(remoteAddress !== undefined ? { remoteAddress } : {}) });
      process.stdout.write(values['json'] ? JSON.stringify(e, null, 2) + '\n' : renderExplanation(e));
      return 0;
    } catch (err) {
      if (!(err instanceof UnsendableRequest)) throw err;
      console.error(`gateway explain: ${err.message}`);
      return 2;
    } finally {
      await gw.close();
    }
  },
};
