import type { BalancerFactory } from './balancer.js';
import { createLeastConnections } from './least-connections.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';

export const BALANCERS: Record<'round-robin' | 'least-connections' | 'random', BalancerFactory> = {
  'round-robin': createRoundRobin,
  'least-connections': createLeastConnections,
  random: createRandom,
};
export type { Balancer, Balanceable } from './balancer.js';
