/**
 * Every YAML config the repository shows a user validates twice: against the JSON Schema editors
 * get (`gateway schema`, with ajv: what an editor using the file would say) and against the
 * gateway's own validator (`gateway validate` for files; the same loader for snippets).
 *
 * Files: gateway.example.yaml, bench/scenarios/*.yaml, bench/same-process-cors-headers.yaml.
 * Snippets: every ```yaml block of README.md, docs/*.md and bench/README.md. A snippet with `routes:` is a whole config; one without is a part of
 * the top level (logging:, rateLimit: …) and is checked inside a minimal config. A snippet whose
 * first line is `# fragment` (a piece of a route, say) is only parsed as YAML.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parseDocument } from 'yaml';
import { jsonSchema } from '../src/config/json-schema.js';
import { parseConfigText, validateWithPlugins } from '../src/config/load.js';
import { loadPlugins } from '../src/config/plugins.js';
import { configSchemaFor } from '../src/config/validate.js';
import { BUILTIN_POLICIES } from '../src/policies/index.js';
import { FormatRegistry } from '@sinclair/typebox';
import { ConfigError } from '../src/errors.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');

/** What the examples' `${VAR}`s stand for when they have no default. */
const ENV: Record<string, string> = {
  PORT: '8080',
  ADMIN_PORT: '0',
  BACKEND_URL: 'http://127.0.0.1:9000',
  DEMO_BACKEND_URL: 'http://127.0.0.1:9000',
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_PASSWORD: 'secret',
  JWT_SECRET: 'a-long-enough-secret-0123456789abcdef',
  OTLP_TOKEN: 'token',
};

const MINIMAL = 'upstreams: { backend: { targets: [{ url: "http://127.0.0.1:9000" }] } }\nroutes: []\n';

interface Sample {
  where: string;
  /** Where its plugin paths are relative to. */
  dir: string;
  text: string;
  kind: 'file' | 'config' | 'top-level part' | 'fragment';
}

function snippets(file: string): Sample[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Sample[] = [];
  for (const m of text.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
    const body = m[1]!;
    const line = text.slice(0, m.index).split('\n').length;
    const kind = /^# fragment\b/.test(body) ? 'fragment' : /^routes:/m.test(body) ? 'config' : 'top-level part';
    // A snippet's plugins ("./policies/tenant.js") are the example plugins.
    out.push({ where: `${file}:${line}`, text: body.replaceAll('"./policies/', `"${join(ROOT, 'examples', 'plugins')}/`), kind, dir: ROOT });
  }
  return out;
}

const files: Sample[] = ['gateway.example.yaml', 'bench/same-process-cors-headers.yaml', ...readdirSync(join(ROOT, 'bench', 'scenarios')).filter((f) => f.endsWith('.yaml')).map((f) => `bench/scenarios/${f}`)].map((f) => ({
  where: f,
  dir: dirname(join(ROOT, f)),
  text: readFileSync(join(ROOT, f), 'utf8'),
  kind: 'file',
}));
const docs = ['README.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const samples = [...files, ...docs.flatMap(snippets)];

const ajv = new Ajv({ allErrors: true, strict: true });
// The schema's own formats, checked by the gateway's own functions (an editor just ignores them).
for (const format of ['duration', 'size', 'cidr', 'http-url']) ajv.addFormat(format, (v: string) => FormatRegistry.Get(format)!(v));
const builtin = ajv.compile(jsonSchema());

/** What an editor says: the shipped schema, or with plugins the one `gateway schema --config` prints. */
async function schemaProblems(doc: unknown, dir = ROOT): Promise<string[]> {
  const specs = (doc as { plugins?: unknown[] }).plugins;
  const validate = specs === undefined ? builtin : ajv.compile(jsonSchema(configSchemaFor(await loadPlugins(specs, dir, BUILTIN_POLICIES))));
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

async function gatewayProblems(text: string, dir: string): Promise<readonly string[]> {
  try {
    await validateWithPlugins(parseConfigText(text, ENV), dir);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('every YAML config in the repository validates', () => {
  it('finds the files and the snippets', () => {
    assert.ok(files.length >= 7, `${files.length} files`);
    assert.ok(samples.filter((s) => s.kind === 'config').length >= 4, 'whole-config snippets');
    assert.ok(samples.filter((s) => s.kind === 'top-level part').length >= 3, 'top-level snippets');
  });

  for (const s of samples) {
    it(`${s.where} (${s.kind})`, async () => {
      const doc = parseDocument(s.text, { uniqueKeys: true });
      assert.deepEqual(doc.errors.map((e) => e.message), [], 'YAML parses');
      if (s.kind === 'fragment' || doc.contents === null) return;
      const text = s.kind === 'top-level part' ? `${s.text}\n${MINIMAL}` : s.text;
      assert.deepEqual(await schemaProblems(parseDocument(text).toJS(), s.dir), [], 'valid under the JSON Schema (ajv)');
      assert.deepEqual(await gatewayProblems(text, s.dir), [], "valid for the gateway's validator");
    });
  }

  it('gateway validate --json accepts the example and every bench scenario', () => {
    // jwt-rs256 reads a public key its bench-setup makes: make one the same way.
    const keys = mkdtempSync(join(tmpdir(), 'gw-keys-'));
    const made = spawnSync(process.execPath, [CLI, 'keys', 'generate', '--alg', 'RS256', '--out', keys, '--force'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(made.status, 0, made.stderr);
    for (const f of files) {
      const env = { ...process.env, ...ENV, BENCH_KEYS: keys };
      const r = spawnSync(process.execPath, [CLI, 'validate', '--json', join(ROOT, f.where)], { encoding: 'utf8', env, timeout: 20_000 });
      const out = JSON.parse(r.stdout) as { ok: boolean; problems?: unknown };
      assert.equal(out.ok, true, `${f.where}: ${JSON.stringify(out.problems)}`);
      assert.equal(r.status, 0);
    }
  });

  it("the bench's control scenario is plain.yaml's config (an A/A pair)", () => {
    const config = (f: string) => parseDocument(readFileSync(join(ROOT, 'bench', 'scenarios', f), 'utf8')).toJS() as unknown;
    assert.deepEqual(config('control.yaml'), config('plain.yaml'));
  });

  it('the JSON Schema accepts "${VAR}" where the loader substitutes one, and still rejects wrong values', async () => {
    const base = parseDocument(MINIMAL).toJS() as Record<string, unknown>;
    assert.deepEqual(await schemaProblems({ ...base, server: { port: '${PORT}', keepAliveTimeout: '${KEEPALIVE:-65s}' }, admin: { enabled: '${ADMIN:-true}' } }), []);
    assert.deepEqual(await schemaProblems({ ...base, upstreams: { b: { targets: [{ url: 'http://${HOST}:9000' }] } } }), []);
    assert.notDeepEqual(await schemaProblems({ ...base, server: { port: 'eighty' } }), []);
    assert.notDeepEqual(await schemaProblems({ ...base, server: { port: 70000 } }), []);
    assert.notDeepEqual(await schemaProblems({ ...base, server: { keepAliveTimeout: 'soon' } }), []);
    assert.notDeepEqual(await schemaProblems({ ...base, sever: {} }), [], 'unknown fields are errors in the editor too');
    const schema = jsonSchema();
    assert.match(String(schema['$id']), /^urn:gatewayd:config-schema:\d+\.\d+\.\d+$/);
    assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
  });

  it('gateway schema --config adds the fields of the plugins the file lists', () => {
    const r = spawnSync(process.execPath, [CLI, 'schema', '--config', join(ROOT, 'bench', 'scenarios', 'plugin-noop.yaml')], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const schema = JSON.parse(r.stdout) as { properties: { routes: { items: { properties: Record<string, unknown> } } } };
    assert.ok('noop' in schema.properties.routes.items.properties);
    assert.ok(!('noop' in ((jsonSchema() as typeof schema).properties.routes.items.properties)), 'not in the built-in schema');
  });

  it('the example names the shipped schema for yaml-language-server editors', () => {
    const first = readFileSync(join(ROOT, 'gateway.example.yaml'), 'utf8').split('\n')[0]!;
    const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    assert.ok(m, first);
    const shipped = JSON.parse(readFileSync(join(ROOT, m[1]!), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(shipped, jsonSchema());
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    for (const f of ['gateway.schema.json', 'gateway.example.yaml', 'dashboards', 'LICENSE']) assert.ok(pkg.files.includes(f), `package.json files has ${f}`);
  });
});
