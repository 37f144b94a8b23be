/**
 * Route tests (`gateway test routes.test.yaml`), as Envoy's router_check_tool does for its routes:
 * a list of requests with what the gateway must do with each, run through the offline gateway (the
 * real handler, policies and proxy step; upstreams never contacted).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseYamlText } from '../config/load.js';
import { Strict } from '../config/types.js';
import { fieldPath } from '../config/validate.js';
import { ConfigError } from '../errors.js';
import { explain, type Explanation } from './explain.js';
import { UnsendableRequest, type OfflineGateway } from './offline.js';
import { mintToken, TokenSpecSchema } from './test-token.js';

const HeaderValues = Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Array(Type.String())]), {
  description: 'Request header fields; a list sends the field once per value.',
});
const Expected = Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Null()]), {
  description: 'Header fields and their exact values (a repeated field joined with ", "); null: the field must be absent.',
});

export const TestCaseSchema = Strict({
  name: Type.Optional(Type.String({ description: 'Shown in the report (default: method and URL).' })),
  request: Strict({
    method: Type.String({ pattern: '^[A-Za-z]+$', default: 'GET', description: 'HTTP method.' }),
    url: Type.String({ minLength: 1, description: 'An absolute URL (its host is the Host header) or a path (Host: localhost).' }),
    headers: Type.Optional(HeaderValues),
    body: Type.Optional(Type.String({ description: 'Request body.' })),
    remoteAddress: Type.Optional(Type.String({ description: 'The TCP peer address the gateway sees (default 127.0.0.1).' })),
    token: Type.Optional(TokenSpecSchema),
  }),
  expect: Strict({
    route: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Name of the route that takes the request; null: no route does.' })),
    upstreamUrl: Type.Optional(Type.String({ description: 'The URL the request is forwarded to (one of the targets, when there are several).' })),
    status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'Status the gateway answers with itself (the request is not forwarded).' })),
    headers: Type.Optional(Expected),
    upstreamHeaders: Type.Optional(Expected),
  }),
});

export const TestFileSchema = Type.Union([
  Type.Array(TestCaseSchema),
  Strict({
    config: Type.Optional(Type.String({ description: 'The gateway config to test, relative to this file (default ./gateway.yaml).' })),
    cases: Type.Array(TestCaseSchema),
  }),
]);

export type TestCase = Static<typeof TestCaseSchema>;

export interface TestFile {
  readonly cases: readonly TestCase[];
  /** The config file named in the test file, resolved against its directory. */
  readonly config: string | undefined;
  /** The test file's directory (token key files are relative to it). */
  readonly dir: string;
}

/** Read a test file (YAML, `${VAR}` substituted like a config). Throws ConfigError with field paths. */
export async function loadTestFile(file: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<TestFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read the test file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  const raw = text.trim() === '' ? [] : parseYamlText(text, env, file);
  const doc = Value.Default(TestFileSchema, structuredClone(raw));
  const shape = Array.isArray(doc) ? Type.Array(TestCaseSchema) : TestFileSchema.anyOf[1];
  const problems: string[] = [];
  for (const e of Value.Errors(shape, doc)) {
    const path = fieldPath(e.path);
    const what = e.value === undefined ? 'required' : `${e.message.toLowerCase()}, got ${JSON.stringify(e.value)}`;
    if (!problems.some((p) => p.startsWith(`${path}:`))) problems.push(`${path}: ${what}`);
  }
  const cases = (Array.isArray(doc) ? doc : ((doc as { cases?: TestCase[] }).cases ?? [])) as TestCase[];
  if (problems.length === 0) {
    const at = Array.isArray(doc) ? '' : 'cases';
    cases.forEach((c, i) => {
      if (Object.keys(c.expect).length === 0) problems.push(`${at}[${i}].expect: nothing to check (route, upstreamUrl, status, headers or upstreamHeaders)`);
    });
    if (cases.length === 0) problems.push(`${file}: no test cases`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const named = Array.isArray(doc) ? undefined : (doc as { config?: string }).config;
  return { cases, config: named !== undefined ? resolve(dirname(file), named) : undefined, dir: dirname(resolve(file)) };
}

export interface Mismatch {
  readonly field: string;
  readonly expected: unknown;
  readonly got: unknown;
}

export interface CaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly failures: readonly Mismatch[];
  /** What happened, in brief. */
  readonly got: {
    /** The status the gateway answered with itself; null when the request was forwarded (the upstream decides). */
    readonly status: number | null;
    readonly route: string | null;
    readonly forwarded: boolean;
    readonly upstreamUrl: string | null;
    readonly code: string | null;
    readonly answeredBy: string | null;
  };
}

function fieldValue(v: string | readonly string[] | undefined): string | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? v : v.join(', ');
}

function upstreamHeader(headers: readonly string[], name: string): string | null {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) values.push(headers[i + 1]!);
  return values.length === 0 ? null : values.join(', ');
}

/** Run one case and compare. */
export async function runCase(gw: OfflineGateway, c: TestCase, dir: string): Promise<CaseResult> {
  const headers: [string, string][] = [];
  for (const [k, v] of Object.entries(c.request.headers ?? {})) for (const x of Array.isArray(v) ? v : [v]) headers.push([k, x]);
  const name = c.name ?? `${c.request.method.toUpperCase()} ${c.request.url}`;
  const none = { status: null, route: null, forwarded: false, upstreamUrl: null, code: null, answeredBy: null };
  if (c.request.token !== undefined) {
    const token = await mintToken(gw.snapshot.config, c.request.token, dir);
    if (typeof token !== 'string') return { name, ok: false, failures: [{ field: 'request.token', expected: 'a token for this config', got: token.problem }], got: none };
    headers.push(['authorization', `Bearer ${token}`]);
  }
  const req = {
    method: c.request.method,
    url: c.request.url,
    headers,
    ...(c.request.body !== undefined ? { body: c.request.body } : {}),
    ...(c.request.remoteAddress !== undefined ? { remoteAddress: c.request.remoteAddress } : {}),
  };
  let run;
  try {
    run = await explainWithHeaders(gw, req);
  } catch (err) {
    if (!(err instanceof UnsendableRequest)) throw err;
    return { name, ok: false, failures: [{ field: 'request', expected: 'a request an HTTP client can send', got: err.message }], got: none };
  }
  const { explanation: e, upstreamHeaders, responseHeaders } = run;
  const forwarded = e.outcome.kind === 'forwarded';
  const got: CaseResult['got'] = {
    status: forwarded ? null : e.outcome.status,
    route: e.route?.name ?? null,
    forwarded,
    upstreamUrl: e.upstream?.forwardedTo ?? null,
    code: e.outcome.code ?? null,
    answeredBy: e.outcome.answeredBy ?? null,
  };
  const failures: Mismatch[] = [];
  const answered = forwarded ? `forwarded to ${got.upstreamUrl ?? '?'} (the upstream decides the status)` : `${got.status}${got.code !== null ? ` ${got.code}` : ''}${got.answeredBy !== null ? ` from policy ${got.answeredBy}` : ''}`;
  const x = c.expect;
  if (x.route !== undefined && x.route !== got.route) failures.push({ field: 'route', expected: x.route, got: got.route });
  if (x.upstreamUrl !== undefined) {
    if (!forwarded) failures.push({ field: 'upstreamUrl', expected: x.upstreamUrl, got: `not forwarded: ${answered}` });
    else if (!e.upstream!.urls.includes(x.upstreamUrl)) {
      failures.push({ field: 'upstreamUrl', expected: x.upstreamUrl, got: e.upstream!.urls.length === 1 ? e.upstream!.urls[0] : e.upstream!.urls });
    }
  }
  if (x.status !== undefined && (forwarded || x.status !== got.status)) failures.push({ field: 'status', expected: x.status, got: answered });
  for (const [name, want] of Object.entries(x.headers ?? {})) {
    const have = fieldValue(responseHeaders[name.toLowerCase()]);
    if (have !== want) failures.push({ field: `headers.${name}`, expected: want, got: have });
  }
  for (const [name, want] of Object.entries(x.upstreamHeaders ?? {})) {
    if (upstreamHeaders === undefined) {
      failures.push({ field: `upstreamHeaders.${name}`, expected: want, got: `not forwarded: ${answered}` });
      continue;
    }
    const have = upstreamHeader(upstreamHeaders, name.toLowerCase());
    if (have !== want) failures.push({ field: `upstreamHeaders.${name}`, expected: want, got: have });
  }
  return { name, ok: failures.length === 0, failures, got };
}

/** explain(), plus the raw response and upstream header lists a test compares. */
async function explainWithHeaders(
  gw: OfflineGateway,
  req: Parameters<typeof explain>[1],
): Promise<{ explanation: Explanation; responseHeaders: Record<string, string | string[] | undefined>; upstreamHeaders: readonly string[] | undefined }> {
  let responseHeaders: Record<string, string | string[] | undefined> = {};
  let upstreamHeaders: readonly string[] | undefined;
  const explanation = await explain(gw, req, (o) => {
    responseHeaders = o.headers;
    upstreamHeaders = o.upstream?.headers;
  });
  return { explanation, responseHeaders, upstreamHeaders };
}

export interface TestReport {
  readonly file: string;
  readonly config: string;
  readonly passed: number;
  readonly failed: number;
  readonly cases: readonly CaseResult[];
}

export async function runTests(gw: OfflineGateway, file: string, config: string, tests: TestFile): Promise<TestReport> {
  const results: CaseResult[] = [];
  for (const c of tests.cases) results.push(await runCase(gw, c, tests.dir));
  const failed = results.filter((r) => !r.ok).length;
  return { file, config, passed: results.length - failed, failed, cases: results };
}

function shown(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function renderReport(r: TestReport): string {
  const out: string[] = [];
  for (const c of r.cases) {
    out.push(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}`);
    for (const f of c.failures) {
      out.push(`     ${f.field}`);
      out.push(`       expected: ${shown(f.expected)}`);
      out.push(`       got:      ${shown(f.got)}`);
    }
  }
  out.push(`${r.passed} passed, ${r.failed} failed (${r.file} against ${r.config})`);
  return out.join('\n') + '\n';
}
