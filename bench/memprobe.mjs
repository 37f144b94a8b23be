// Where a gateway's memory is, by phase: `node --import ./bench/memprobe.mjs dist/cli.js start …`, then
// `kill -USR2 <pid>` at each phase (idle, under load, after): one `MEM {json}` line on stderr with
// process.memoryUsage(), V8's malloced memory and its heap spaces, in MiB. See bench/README.md ("Memory").
// For investigation only: the gateway itself never handles SIGUSR2.
import v8 from 'node:v8';
const mib = (n) => Math.round((n / 1048576) * 10) / 10;
process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: mib(s.space_size), used: mib(s.space_used_size) }]));
  const h = v8.getHeapStatistics();
  process.stderr.write('MEM ' + JSON.stringify({ rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), malloced: mib(h.malloced_memory), peakMalloced: mib(h.peak_malloced_memory), spaces }) + '\n');
});
