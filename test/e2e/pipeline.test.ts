/** Every end-to-end scenario over the stack's plaintext links (those `stack.sh env` exports). */
import { stack } from '@patternflow/harness';
import { describePipeline, SCENARIOS } from './pipeline-scenario.ts';

describePipeline({
  title: 'patternflow end to end',
  links: {
    env: {
      PF_KAFKA_BROKERS: stack.brokers.join(','),
      PF_REGISTRY_URL: stack.registryUrl,
      PF_PG_URL: stack.pgUrl,
    },
    kafka: { brokers: stack.brokers, security: stack.kafkaSecurity },
    registry: stack.registry,
    pg: stack.pg,
  },
  scenarios: SCENARIOS,
});
