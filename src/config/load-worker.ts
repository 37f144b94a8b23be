/**
 * The thread that reads, parses and validates a large config file for a reload (config/loader.ts).
 * It is kept between reloads and answers one message at a time. A file that lists plugins is handed
 * back untouched (`plugins: true`): plugin modules are loaded on the main thread only, where their
 * policies will run. A warm-up parses and validates a small generated config a few times, so the
 * first real reload does not run with a cold JIT.
 */
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { parseConfigText } from './load.js';
import { validateConfig } from './validate.js';

interface LoadRequest {
  id: number;
  file?: string;
  env?: Record<string, string | undefined>;
  warm?: boolean;
}

/** A config shaped like a large real one (prefix and parameter routes, rate limits), for the warm-up only. */
function warmUpConfig(routes: number): string {
  const lines = ['server: { port: 0 }', 'admin: { port: 0 }', 'upstreams:'];
  for (let i = 0; i < 4; i++) lines.push(`  u${i}: { targets: [{ url: "http://127.0.0.1:${9000 + i}" }] }`);
  lines.push('routes:');
  for (let i = 0; i < routes; i++) {
    const match = i % 3 === 0 ? `path: /w${i}/items/:id` : `pathPrefix: /w${i}`;
    const limit = i % 10 === 0 ? ', rateLimit: [{ key: ip, limit: 100, window: 1s }]' : '';
    lines.push(`  - { name: w${i}, match: { ${match}, methods: [GET, POST] }, upstream: u${i % 4}${limit} }`);
  }
  return lines.join('\n') + '\n';
}

function warm(): { warmed: true } {
  const text = warmUpConfig(300);
  for (let i = 0; i < 12; i++) validateConfig(parseConfigText(text, {}, 'warm-up'));
  return { warmed: true };
}

async function load(msg: LoadRequest): Promise<unknown> {
  if (msg.warm === true) return warm();
  let text: string;
  try {
    text = await readFile(msg.file!, 'utf8');
  } catch {
    return { plugins: true }; // the main thread reports an unreadable file in its usual words
  }
  const raw = parseConfigText(text, msg.env ?? {}, msg.file);
  const specs = raw['plugins'];
  if (Array.isArray(specs) && specs.length > 0) return { plugins: true };
  const r = validateConfig(raw);
  return { config: r.config, warnings: r.warnings };
}

// One at a time, in order: a reload waits for a warm-up still running rather than racing it.
let queue: Promise<void> = Promise.resolve();
parentPort?.on('message', (msg: LoadRequest) => {
  queue = queue.then(() =>
    load(msg).then(
      (reply) => parentPort!.postMessage({ ...(reply as object), id: msg.id }),
      (err: unknown) =>
        parentPort!.postMessage(
          err instanceof ConfigError ? { id: msg.id, problems: err.problems } : { id: msg.id, failure: err instanceof Error ? err.message : String(err) },
        ),
    ),
  );
});
