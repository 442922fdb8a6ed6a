import { Counter, Gauge, type Registry } from 'prom-client';

/** The router's policy metrics, besides the ones every stage exports. */
export interface PolicyMetrics {
  /** 1 for the policy this replica routes by; the series of a replaced policy is removed. */
  info: Gauge<'version' | 'sha256'>;
  /** Policy records taken up (`applied`) or refused (`rejected`) while running. */
  updates: Counter<'result'>;
}

export function createPolicyMetrics(registry: Registry): PolicyMetrics {
  const metrics: PolicyMetrics = {
    info: new Gauge({
      name: 'pf_policy_info',
      help: 'The routing policy this replica routes by: 1 for its version and sha256',
      labelNames: ['version', 'sha256'],
      registers: [registry],
    }),
    updates: new Counter({
      name: 'pf_policy_updates_total',
      help: 'Routing policy updates from the control topic: applied, or rejected (the replica kept its policy)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
  // Both series exist from the start, so that an alert on rejections sees 0 before the first one.
  for (const result of ['applied', 'rejected']) metrics.updates.inc({ result }, 0);
  return metrics;
}
