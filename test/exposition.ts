/**
 * A strict parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text, for tests: every
 * line must be a comment, HELP/TYPE/EOF or a well-formed sample of the family declared above it, and
 * histograms must be cumulative with +Inf equal to _count. Throws on the first violation.
 */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset', 'gaugehistogram']);

function parseValue(text: string, line: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`bad value ${JSON.stringify(text)} in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const e = text[++j];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`bad escape in: ${line}`);
      } else value += text[j];
    }
    if (text[j] !== '"') throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`expected , between labels in: ${line}`);
  }
  return labels;
}

function belongs(sample: string, family: Family, openMetrics: boolean): boolean {
  const f = family.name;
  switch (family.type) {
    case 'counter':
      return openMetrics ? sample === `${f}_total` || sample === `${f}_created` : sample === f;
    case 'histogram':
      return sample === `${f}_bucket` || sample === `${f}_sum` || sample === `${f}_count` || sample === `${f}_created`;
    case 'summary':
      return sample === f || sample === `${f}_sum` || sample === `${f}_count`;
    default:
      return sample === f;
  }
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      entry.buckets.push([parseValue(le, le), s.value]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]![0] > buckets[i - 1]![0])) throw new Error(`${family.name}${key}: le not ascending`);
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    const last = buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (count !== last[1]) throw new Error(`${family.name}${key}: +Inf bucket ${last[1]} != _count ${count}`);
  }
}

export function parseExposition(text: string, openMetrics = false): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition must end with a newline');
  lines.pop();
  let eof = false;
  for (const line of lines) {
    if (eof) throw new Error(`content after # EOF: ${line}`);
    if (line === '') {
      if (openMetrics) throw new Error('blank line in OpenMetrics');
      continue;
    }
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
      if (line === '# EOF') {
        if (!openMetrics) throw new Error('# EOF in text format');
        eof = true;
        continue;
      }
      if (m === null) {
        if (openMetrics) throw new Error(`bad comment in OpenMetrics: ${line}`);
        continue;
      }
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`bad metric name in: ${line}`);
      if (current?.name !== name) {
        if (families.has(name!)) throw new Error(`family ${name} declared twice`);
        current = { name: name!, type: 'untyped', help: '', samples: [] };
        families.set(name!, current);
      }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`);
        current.type = rest;
      } else if (kind === 'HELP') current.help = rest;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (\S+))?$/.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const [, name, labelText = '', value] = m;
    if (current === undefined || !belongs(name!, current, openMetrics)) throw new Error(`sample ${name} outside its family (${current?.name})`);
    current.samples.push({ name: name!, labels: parseLabels(labelText, line), value: parseValue(value!, line) });
  }
  if (openMetrics && !eof) throw new Error('OpenMetrics exposition without # EOF');
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** The value of the one sample with exactly these labels (undefined when absent). */
export function sampleValue(families: Map<string, Family>, family: string, sample: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return families.get(family)?.samples.find((s) => s.name === sample && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
