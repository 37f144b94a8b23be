/** Config of an upstream's health: active probes (healthCheck) and passive ejection (outlierDetection). */
import { Type } from '@sinclair/typebox';
import { Duration, Strict } from '../config/types.js';

export const HealthCheckSchema = Strict(
  {
    path: Type.String({ pattern: '^/', hint: 'a path starting with "/"', default: '/health', description: 'Path probed on every target (after the target URL\'s own path), with GET.' }),
    interval: Duration('Time between two probes of one target (each wait is jittered by ±10%, so targets are not probed in lockstep).', '5s'),
    timeout: Duration('A probe that has no complete answer after this long failed. At most the interval.', '1s'),
    healthyAfter: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'Passed probes in a row before an unhealthy target gets traffic again.' }),
    unhealthyAfter: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Failed probes in a row before a healthy target gets no more traffic.' }),
    expectStatus: Type.Array(Type.String({ pattern: '^[1-5][0-9]{2}(-[1-5][0-9]{2})?$', hint: 'a status like "200" or a range like "200-399"' }), {
      minItems: 1,
      default: ['200-399'],
      description: 'Statuses (or inclusive ranges) that count as healthy; anything else, a timeout or a connection failure counts as unhealthy.',
    }),
  },
  { description: 'Active health checks (off unless set). Targets start healthy and are probed at once; an unhealthy target gets no traffic, and when none is healthy the route answers 503 GW_ERR_NO_HEALTHY_TARGET without touching the network.' },
);

export const OutlierDetectionSchema = Strict(
  {
    consecutiveFailures: Type.Integer({
      minimum: 0,
      default: 5,
      description: 'Connection failures (refused, timed out, reset) in a row before a target is ejected; 0 disables.',
    }),
    consecutive5xx: Type.Integer({
      minimum: 0,
      default: 5,
      description: '5xx responses in a row before a target is ejected; 0 disables. The last available target is never ejected for 5xx (its answers are better seen than hidden behind 503).',
    }),
    ejectionTime: Duration('How long a target stays out on its first ejection; each further ejection in a row adds this again (Envoy\'s base_ejection_time).', '10s'),
    maxEjectionTime: Duration('The longest an ejection lasts, however often the target was ejected.', '5m'),
  },
  {
    default: {},
    description: 'Passive health (Envoy outlier detection): eject targets that keep failing. After the ejection one trial request is sent; its success returns the target, its failure ejects it again for longer.',
  },
);
