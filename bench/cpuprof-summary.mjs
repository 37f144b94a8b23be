#!/usr/bin/env node
// Where a gateway's CPU time went, from a `node --cpu-prof` profile: self time by function with the
// idle time left out (the share of the time the process was busy), then the gateway's own functions
// (dist/) by self and by inclusive time (a function and everything it called).
// Usage: node bench/cpuprof-summary.mjs file.cpuprofile [topN]      (bench/README.md: "Flame graph findings")
// For a flame graph, open the .cpuprofile in Chrome DevTools (Performance panel) or speedscope.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/cpuprof-summary.mjs file.cpuprofile [topN]');
  process.exit(2);
}
const topN = Number(process.argv[3] || 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) || 0) + (prof.timeDeltas[i] || 0));
const key = (n) =>
  `${n.callFrame.functionName || '(anonymous)'} ${(n.callFrame.url || '').replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${n.callFrame.lineNumber + 1}`;
let busy = 0;
let idle = 0;
const funcs = new Map();
const incl = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  if (n.callFrame.functionName === '(idle)') {
    idle += us;
    continue;
  }
  busy += us;
  funcs.set(key(n), (funcs.get(key(n)) || 0) + us);
  const seen = new Set();
  for (let x = id; x !== undefined; x = parent.get(x)) {
    const k = key(byId.get(x));
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) || 0) + us);
  }
}
const pct = (v) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
const top = (m, filter = () => true) => [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, topN);
console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s; shares below are of the busy time`);
console.log('top functions by self time:');
for (const [f, v] of top(funcs)) console.log(`  ${pct(v)}  ${f}`);
console.log("the gateway's own code (dist/), self time:");
for (const [f, v] of top(funcs, (k) => k.includes(' dist/'))) console.log(`  ${pct(v)}  ${f}`);
console.log("the gateway's own code (dist/), inclusive time:");
for (const [f, v] of top(incl, (k) => k.includes(' dist/'))) console.log(`  ${pct(v)}  ${f}`);
