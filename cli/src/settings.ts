import { fileURLToPath } from 'node:url';
import { type ConfigOf, integer, list, loadConfig, string } from '@patternflow/config';
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
    // Where `make run` (scripts/run.ts) runs the pipeline: its stages' HTTP ports and its
    // run folder (state, holds). The same variables and defaults as scripts/run.ts.
    runBasePort: integer('PF_RUN_BASE_PORT', { default: 9464, min: 1024, max: 65_000 }),
    runDir: string('PF_RUN_DIR', fileURLToPath(new URL('../../.stack/run/pipeline', import.meta.url))),
    /** `stage=url,…`: stages that do not listen where `make run` puts them (status). */
    stageUrls: list('PF_STAGE_URLS', []),
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
