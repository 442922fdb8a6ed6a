import { type ConfigOf, loadConfig } from '@patternflow/config';
import { linkConfigProblems, linkConfigSpec, stageConfigSpec } from '@patternflow/service';

/**
 * The CLI reads the same PF_* variables as the services, through the same fields, so a
 * shell with the pipeline's environment (`eval "$(scripts/stack.sh env)"`, a pod's env)
 * points the CLI at the same Kafka, registry, namespace and consumer groups.
 */
function cliConfigSpec() {
  const shared = stageConfigSpec('ingestor');
  return {
    // PF_KAFKA_* and PF_REGISTRY_*: brokers, registry, TLS and credentials, as the services read them
    ...linkConfigSpec(),
    topicNamespace: shared.topicNamespace,
    topicPartitions: shared.topicPartitions,
    groupIdIngestor: shared.groupIdIngestor,
    groupIdInferenceTagger: shared.groupIdInferenceTagger,
    groupIdPriorityRouter: shared.groupIdPriorityRouter,
    groupIdSink: shared.groupIdSink,
    compression: shared.compression,
  };
}

export type CliSettings = ConfigOf<ReturnType<typeof cliConfigSpec>>;

/** Global flags that override the environment (each names the variable it overrides). */
export interface GlobalFlags {
  brokers?: string;
  registry?: string;
  namespace?: string;
}

export function loadCliSettings(
  env: Readonly<Record<string, string | undefined>>,
  flags: GlobalFlags,
): CliSettings {
  return loadConfig(
    cliConfigSpec(),
    {
      ...env,
      ...(flags.brokers === undefined ? {} : { PF_KAFKA_BROKERS: flags.brokers }),
      ...(flags.registry === undefined ? {} : { PF_REGISTRY_URL: flags.registry }),
      ...(flags.namespace === undefined ? {} : { PF_TOPIC_NAMESPACE: flags.namespace }),
    },
    [(settings) => linkConfigProblems(settings).join('; ') || undefined],
  );
}
