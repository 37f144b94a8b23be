/**
 * The CLI as the README and the docs present it: every command and option they name exists (its
 * `--help` lists it), every command and option that exists is in the README's CLI section, and the
 * behaviours a script relies on (exit codes, where usage goes, validate --json) hold.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { COMMANDS } from '../src/cli/commands.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'gw-readme-cli-'));

function cli(args: string[], cli = CLI) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir });
}

const OPTION = /(?<![\w-])(--?[a-zA-Z][\w-]*)/g;
const options = (text: string) => [...text.matchAll(OPTION)].map((m) => m[1]!);

/** The README's CLI section: one entry per `gateway …` line, with its indented continuation lines. */
function readmeEntries(): Map<string, string[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /^## CLI\n+```\n([\s\S]*?)^```/m.exec(readme);
  assert.ok(section, 'README has a ## CLI section with a code block');
  const entries = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of section[1]!.split('\n')) {
    const m = /^gateway (\S+)(.*)$/.exec(line);
    if (m) {
      const name = m[1]!.startsWith('-') ? '' : m[1]!;
      current = entries.get(name) ?? [];
      entries.set(name, current);
      current.push(...options(m[1]!.startsWith('-') ? line : m[2]!));
    } else if (/^\s/.test(line) && current) current.push(...options(line));
  }
  return entries;
}

/** `gateway X …` and `dist/cli.js X …` in code in the docs: inline code, code blocks and `# bench-` lines. */
function docMentions(): Array<{ where: string; command: string; options: string[] }> {
  const files = ['README.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`), ...readdirSync(join(ROOT, 'bench/scenarios')).map((f) => `bench/scenarios/${f}`)];
  const out: Array<{ where: string; command: string; options: string[] }> = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const code = file.endsWith('.md') ? [...text.matchAll(/```[a-z]*\n([\s\S]*?)```|`([^`\n]+)`/g)].map((m) => m[1] ?? m[2]!) : text.split('\n').filter((l) => l.startsWith('#'));
    for (const chunk of code) {
      // A command starts a line (after "# bench-setup:" and the like), or follows "$(", "&&" or "|".
      for (const m of chunk.matchAll(/(?:^\s*(?:#[\w -]*:\s*)?(?:\w+=\S+ )*|\$\(|&& |\| )(?:echo "[^"$]*)?(?:\w+=\S+ )*(?:npx |node )?(?:gateway|dist\/cli\.js)\s+([a-z][a-z-]*)([^|;)&`\n]*)/gm)) {
        out.push({ where: file, command: m[1]!, options: options(m[2]!.replace(/"[^"]*"|'[^']*'/g, '')) });
      }
    }
  }
  return out;
}

const help = new Map<string, string>();
function helpOf(command: string): string {
  let text = help.get(command);
  if (text === undefined) {
    const r = cli(command === '' ? ['--help'] : [command, '--help']);
    assert.equal(r.status, 0, `gateway ${command} --help exits 0 (${r.stderr})`);
    text = r.stdout;
    help.set(command, text);
  }
  return text;
}

describe('the CLI the README promises', () => {
  it('every command and option in the README CLI section exists', () => {
    const entries = readmeEntries();
    assert.ok(entries.size >= COMMANDS.length, `${entries.size} entries`);
    for (const [command, opts] of entries) {
      const shown = new Set(options(helpOf(command)));
      for (const o of opts) assert.ok(shown.has(o), `gateway ${command || ''} ${o}: not in its --help`);
    }
  });

  it('every command and every option of each appears in the README CLI section', () => {
    const entries = readmeEntries();
    for (const c of COMMANDS) {
      const listed = entries.get(c.name);
      assert.ok(listed, `README lists gateway ${c.name}`);
      for (const [name, o] of Object.entries(c.options)) assert.ok(listed.includes(`--${name}`), `README lists gateway ${c.name} --${name}${o.short ? ` (-${o.short})` : ''}`);
    }
    for (const o of ['--help', '--version']) assert.ok(entries.get('')?.includes(o), `README lists gateway ${o}`);
  });

  it('every gateway command the docs and bench scenarios show exists with the options they use', () => {
    const mentions = docMentions();
    assert.ok(mentions.some((m) => m.where === 'bench/README.md' && m.command === 'token'), 'finds the bench README token line');
    assert.ok(mentions.some((m) => m.where === 'README.md' && m.command === 'keys'), 'finds the README keys line');
    const names = new Set(COMMANDS.map((c) => c.name));
    for (const m of mentions) {
      assert.ok(names.has(m.command), `${m.where}: gateway ${m.command} is not a command`);
      const shown = new Set(options(helpOf(m.command)));
      for (const o of m.options) assert.ok(shown.has(o), `${m.where}: gateway ${m.command} ${o} is not an option`);
    }
  });

  it('usage: bare gateway to stderr with exit 2, --help to stdout with exit 0, --version, aligned columns', () => {
    const bare = cli([]);
    assert.equal(bare.status, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /^Usage: gateway <command>/);
    const ok = cli(['--help']);
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout.trim(), bare.stderr.trim());
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(cli(['--version']).stdout.trim(), pkg.version);
    const rows = ok.stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
    const columns = new Set(rows.map((l) => /^ {2}(?:\S+, )?\S+\s+/.exec(l)![0].length));
    assert.equal(columns.size, 1, `descriptions start in one column:\n${rows.join('\n')}`);
    const unknown = cli(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  it('validate --json prints JSON on success and on every kind of failure', () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const good = cli(['validate', '--json', join(ROOT, 'gateway.example.yaml')]);
    assert.equal(good.status, 0, good.stderr);
    assert.equal((JSON.parse(good.stdout) as { ok: boolean }).ok, true);
    const cases: Array<[string, string, RegExp]> = [
      [join(dir, 'missing.yaml'), 'missing.yaml', /cannot read the config file \(ENOENT\)/],
      [write('syntax.yaml', 'server: { port: ${PORT} }\n'), 'syntax.yaml:1:', /YAML syntax/],
      [write('invalid.yaml', 'upstreams: {}\nroutes: [{ name: a, match: { pathPrefix: /a }, upstream: nope }]\n'), 'routes[0].upstream', /unknown upstream "nope"/],
      [write('keyfile.yaml', 'jwt: { issuers: [{ name: k, issuer: x, algorithms: [RS256], publicKeyFile: /nonexistent.pem }] }\nupstreams: {}\nroutes: []\n'), 'jwt.issuers[0].publicKeyFile', /cannot read/],
    ];
    for (const [file, path, message] of cases) {
      const r = cli(['validate', '--json', file]);
      assert.equal(r.status, 1, file);
      assert.equal(r.stderr, '', 'nothing but the JSON');
      const out = JSON.parse(r.stdout) as { ok: boolean; code: string; problems: Array<{ path: string; message: string }>; warnings: unknown[] };
      assert.equal(out.ok, false);
      assert.equal(out.code, 'GW_ERR_CONFIG_INVALID');
      assert.deepEqual(out.warnings, []);
      assert.ok(out.problems.some((p) => p.path.includes(path) && message.test(p.message)), `${file}: ${JSON.stringify(out.problems)}`);
    }
  });

  it('in an install without pino-pretty, format: pretty fails validation with the install command', () => {
    // A project whose node_modules holds everything but the optional packages.
    const project = join(dir, 'project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    cpSync(join(ROOT, 'dist'), join(project, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(project, 'package.json'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name === 'pino-pretty' || name === '@opentelemetry' || name === '.bin') continue;
      symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
    }
    const cfg = join(dir, 'pretty.yaml');
    writeFileSync(cfg, 'logging: { format: pretty }\ntracing: { otlp: { endpoint: "http://127.0.0.1:4318/v1/traces" } }\nupstreams: {}\nroutes: []\n');
    const r = cli(['validate', cfg], join(project, 'dist', 'cli.js'));
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /logging\.format: "pretty" needs the optional package pino-pretty, not installed \(npm install pino-pretty\)/);
    assert.match(r.stderr, /tracing\.otlp: OTLP export needs the optional packages @opentelemetry\/api, .*\(npm install @opentelemetry\/api /);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    const start = cli(['start', '--config', cfg], join(project, 'dist', 'cli.js'));
    assert.equal(start.status, 1);
    assert.match(start.stderr, /npm install pino-pretty/);
    const line = JSON.parse(start.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(line['event'], 'config.invalid');
    assert.equal(line['code'], 'GW_ERR_CONFIG_INVALID');
  });
});
