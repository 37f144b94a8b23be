/** The balancer contract: pick one of the available targets. One file per strategy, one shared contract test. */
export interface Balanceable {
  readonly weight: number;
  /** Requests in flight to this target. */
  active: number;
  /** False while health checks or passive ejection take the target out. */
  available: boolean;
}

export interface Balancer<T extends Balanceable> {
  pick(): T | undefined;
}

export type BalancerFactory = <T extends Balanceable>(targets: readonly T[]) => Balancer<T>;
