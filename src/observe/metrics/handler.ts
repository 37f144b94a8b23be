/**
 * GET /metrics on the admin listener: the Prometheus text format (0.0.4), or OpenMetrics 1.0.0 when
 * the scraper's Accept prefers it (Prometheus sends application/openmetrics-text first).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry, type Metric, type OpenMetricsContentType } from 'prom-client';

/** Whether an Accept header prefers OpenMetrics over the text format (RFC 9110 §12.5.1 q-values). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes('openmetrics')) return false;
  let om = -1;
  let text = -1;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) if (p.startsWith('q=')) q = Number(p.slice(2)) || 0;
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text;
}

/** What the Registry reads of a metric (prom-client's own metrics and ours alike). */
interface Exposed {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  get(): Promise<{ name: string }>;
  getForPromString?(): Promise<{ name: string }>;
}

/**
 * An OpenMetrics view of a text-format registry. prom-client's Registry renames counters in place
 * when it writes OpenMetrics (it strips `_total` from metric.name), so the same metric objects cannot
 * serve both formats: each scrape wraps them in throwaway facades with the OpenMetrics family name.
 */
function openMetricsView(source: Registry): Registry<OpenMetricsContentType> {
  const view = new Registry<OpenMetricsContentType>();
  view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of source.getMetricsAsArray() as unknown as Exposed[]) {
    const family = metric.type === 'counter' ? metric.name.replace(/_total$/, '') : metric.name;
    const read = metric.getForPromString ? () => metric.getForPromString!() : () => metric.get();
    const facade = {
      name: family,
      help: metric.help,
      type: metric.type,
      aggregator: metric.aggregator,
      get: async () => ({ ...(await read()), name: family }),
      reset() {},
    };
    view.registerMetric(facade as unknown as Metric);
  }
  return view;
}

/**
 * `registry` gives the registry to expose, per scrape: the gateway's own, or every worker's added up;
 * `onError` hears of a scrape that failed (answered 500).
 */
export function createMetricsHandler(
  registry: () => Promise<Registry>,
  onError: (err: Error) => void = () => undefined,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const om = wantsOpenMetrics(req.headers.accept);
    const exposition = registry().then(async (r) => {
      const from: { metrics(): Promise<string>; contentType: string } = om ? openMetricsView(r) : r;
      return { type: from.contentType, text: await from.metrics() };
    });
    exposition.then(
      ({ type, text }) => {
        // prom-client writes NaN as "Nan" (event loop lag before its first sample); both formats say NaN.
        const body = text.includes(' Nan\n') ? text.replace(/ Nan$/gm, ' NaN') : text;
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        onError(err as Error);
        const body = `metrics collection failed: ${(err as Error).message}\n`;
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    );
  };
}
