/**
 * Checks that manifests rendered from deploy/helm/patternflow agree with the services' own
 * code, which kubeconform cannot know:
 *
 *   - each stage's container environment passes that service's configuration parser
 *     (`loadConfig`, the same validation a pod runs at start), with the Secret values
 *     replaced by placeholders and the mounted files (the policy ConfigMap, CA files) written
 *     to a temporary directory;
 *   - the routing policy in the ConfigMap validates (`loadPolicy`) and declares the sink's
 *     cold lanes;
 *   - the probes reach PF_HTTP_PORT on every interface, and the grace period outlasts the
 *     service's own shutdown deadline (PF_SESSION_TIMEOUT_MS + 10 s in runMain);
 *   - the pods' input-partitions annotation is the stage's input topic count (one per source pack
 *     for the ingestor, two for the tagger and the router: the expedited lane and the rest, one
 *     per policy lane for the sink) times PF_TOPIC_PARTITIONS (renders
 *     whose values set `inputPartitions` are not what this check is for);
 *   - each KEDA ScaledObject measures the consumer group the stage really uses (`groupIdOf`),
 *     names no single topic (every stage reads several: the trigger sums the group's lag over
 *     all of them), on the same brokers, targets its workload, and never asks for more
 *     replicas than partitions.
 *
 *   node scripts/helm-env-check.ts <rendered.yaml>...     exit 0 agree, 1 problems (listed)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '@patternflow/config';
import { loadPolicy } from '@patternflow/policy';
import { groupIdOf, STAGES, type Stage, type StageConfig, type StageService } from '@patternflow/service';
import { sourceNames } from '@patternflow/sources';
import { parseAllDocuments } from 'yaml';
import { tagger } from '../services/inference-tagger/src/service.ts';
import { ingestor } from '../services/ingestor/src/service.ts';
import { router } from '../services/priority-router/src/service.ts';
import { sink } from '../services/sink/src/service.ts';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  volumes?: {
    name: string;
    configMap?: { name: string };
    secret?: { secretName: string; items?: { key: string; path: string }[] };
  }[];
}

const SERVICES: Record<Stage, StageService<StageConfig>> = {
  ingestor,
  'inference-tagger': tagger,
  'priority-router': router,
  sink,
};
/** What a Secret would hold, shaped like the real thing so that format checks apply. */
const SECRET_PLACEHOLDERS: Record<string, string> = {
  PF_PG_URL: 'postgres://patternflow:placeholder@postgres.invalid:5432/patternflow',
};
const PEM_PLACEHOLDER = '-----BEGIN CERTIFICATE-----\nMIIBplaceholder\n-----END CERTIFICATE-----\n';

interface StageFacts {
  workload: Manifest;
  config: StageConfig;
  partitions: number;
}

export async function checkRendered(manifests: Manifest[]): Promise<string[]> {
  const problems: string[] = [];
  const configMaps = new Map(
    manifests.filter((m) => m.kind === 'ConfigMap').map((m) => [m.metadata.name, m.data ?? {}]),
  );
  const files = mkdtempSync(join(tmpdir(), 'pf-helm-env-'));
  const stages = new Map<Stage, StageFacts>();
  const refused = new Set<Stage>();
  try {
    for (const workload of manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')) {
      const where = `${workload.kind} ${workload.metadata.name}`;
      const stage = workload.metadata.labels?.['app.kubernetes.io/component'] as Stage;
      if (!STAGES.includes(stage)) {
        problems.push(`${where}: label app.kubernetes.io/component is "${stage}", not a stage`);
        continue;
      }
      const template = (workload.spec as { template: { metadata?: Manifest['metadata']; spec: PodSpec } })
        .template;
      const pod = template.spec;
      const container = pod.containers.find((c) => c.name === stage);
      if (!container) {
        problems.push(`${where}: no container named ${stage}`);
        continue;
      }
      const env = environmentOf(workload, pod, container, configMaps, files, problems);
      let config: StageConfig;
      try {
        config = SERVICES[stage].loadConfig(env);
      } catch (error) {
        problems.push(`${where}: the ${stage} service refuses its environment: ${(error as Error).message}`);
        refused.add(stage);
        continue;
      }
      const policy = policyOf(where, config, problems);
      // The tagger and the router read the expedited lane and the rest.
      const inputTopics =
        stage === 'ingestor'
          ? sourceNames().length
          : stage === 'sink'
            ? (policy?.lanes.length ?? Number.NaN)
            : 2;
      const partitions = Number(template.metadata?.annotations?.['patternflow.io/input-partitions']);
      if (partitions !== inputTopics * config.topicPartitions) {
        problems.push(
          `${where}: annotation patternflow.io/input-partitions is ${partitions}, but the ${stage} reads ${inputTopics} topic(s) of PF_TOPIC_PARTITIONS=${config.topicPartitions} partitions`,
        );
      }
      if (stage === 'sink' && policy) {
        const coldLanes = (config as unknown as { coldLanes: readonly string[] }).coldLanes;
        const unknown = coldLanes.filter((lane) => !policy.lanes.includes(lane));
        if (unknown.length > 0) {
          problems.push(`${where}: PF_COLD_LANES names ${unknown.join(', ')}, not lanes of the policy`);
        }
      }
      problems.push(...checkPod(where, pod, container, config));
      stages.set(stage, { workload, config, partitions });
    }
    for (const scaledObject of manifests.filter((m) => m.kind === 'ScaledObject')) {
      // A stage whose configuration is refused has been reported already.
      if (refused.has(scaledObject.metadata.labels?.['app.kubernetes.io/component'] as Stage)) continue;
      problems.push(...checkScaledObject(scaledObject, stages));
    }
  } finally {
    rmSync(files, { recursive: true, force: true });
  }
  return problems;
}

/** The container's environment as the pod would see it, files included. */
function environmentOf(
  workload: Manifest,
  pod: PodSpec,
  container: Container,
  configMaps: Map<string, Record<string, string>>,
  files: string,
  problems: string[],
): Env {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.secretKeyRef)
      env[variable.name] = SECRET_PLACEHOLDERS[variable.name] ?? 'placeholder';
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name')
      env[variable.name] = `${workload.metadata.name}-0`;
    else
      problems.push(
        `${workload.kind} ${workload.metadata.name}: ${variable.name} has a source this check cannot imitate`,
      );
  }
  // Paths into mounted ConfigMaps and Secrets point at copies of their files instead.
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    const contents = new Map<string, string>();
    if (volume?.configMap) {
      const data = configMaps.get(volume.configMap.name);
      if (!data) {
        problems.push(
          `${workload.metadata.name}: mounts ConfigMap ${volume.configMap.name}, which is not rendered`,
        );
        continue;
      }
      for (const [key, text] of Object.entries(data)) contents.set(key, text);
    } else if (volume?.secret) {
      for (const item of volume.secret.items ?? []) contents.set(item.path, PEM_PLACEHOLDER);
    } else continue;
    for (const [name, value] of Object.entries(env)) {
      if (!value.startsWith(`${mount.mountPath}/`)) continue;
      const file = value.slice(mount.mountPath.length + 1);
      const text = contents.get(file);
      if (text === undefined) {
        problems.push(`${workload.metadata.name}: ${name}=${value}, but volume ${mount.name} has no ${file}`);
        continue;
      }
      const copy = join(files, `${workload.metadata.name}-${mount.name}-${file}`);
      writeFileSync(copy, text);
      env[name] = copy;
    }
  }
  return env;
}

function policyOf(where: string, config: StageConfig, problems: string[]) {
  const policyFile = (config as unknown as { policyFile?: string }).policyFile;
  if (policyFile === undefined) return undefined;
  try {
    return loadPolicy(policyFile);
  } catch (error) {
    problems.push(`${where}: the routing policy does not load: ${(error as Error).message}`);
    return undefined;
  }
}

function checkPod(where: string, pod: PodSpec, container: Container, config: StageConfig): string[] {
  const problems: string[] = [];
  if (config.httpHost !== '0.0.0.0') {
    problems.push(`${where}: PF_HTTP_HOST is ${config.httpHost}: the kubelet's probes could not reach it`);
  }
  const portOf = (port: string | number | undefined) =>
    typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
  for (const [probe, path] of [
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ] as const) {
    const get = container[probe]?.httpGet;
    if (get?.path !== path || portOf(get.port) !== config.httpPort) {
      problems.push(`${where}: ${probe} must GET ${path} on PF_HTTP_PORT ${config.httpPort}`);
    }
  }
  // runMain exits on its own at the latest PF_SESSION_TIMEOUT_MS + 10 s after SIGTERM.
  const drainSeconds = Math.ceil((config.sessionTimeoutMs + 10_000) / 1000);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (grace <= drainSeconds) {
    problems.push(
      `${where}: terminationGracePeriodSeconds ${grace} does not outlast the stage's drain deadline of ${drainSeconds} s`,
    );
  }
  return problems;
}

function checkScaledObject(scaledObject: Manifest, stages: Map<Stage, StageFacts>): string[] {
  const where = `ScaledObject ${scaledObject.metadata.name}`;
  const stage = scaledObject.metadata.labels?.['app.kubernetes.io/component'] as Stage;
  const facts = stages.get(stage);
  if (!facts) return [`${where}: scales stage "${stage}", which has no workload in the render`];
  const spec = scaledObject.spec as {
    scaleTargetRef: { kind?: string; name: string };
    maxReplicaCount: number;
    triggers: { type: string; metadata: Record<string, string> }[];
  };
  const problems: string[] = [];
  if (
    spec.scaleTargetRef.name !== facts.workload.metadata.name ||
    spec.scaleTargetRef.kind !== facts.workload.kind
  ) {
    problems.push(
      `${where}: targets ${spec.scaleTargetRef.kind} ${spec.scaleTargetRef.name}, not the stage's workload`,
    );
  }
  if (spec.maxReplicaCount > facts.partitions) {
    problems.push(
      `${where}: maxReplicaCount ${spec.maxReplicaCount} is above the ${facts.partitions} input partitions`,
    );
  }
  const trigger = spec.triggers.find((t) => t.type === 'kafka');
  if (!trigger) return [...problems, `${where}: no kafka trigger`];
  const group = groupIdOf(stage, facts.config);
  if (trigger.metadata.consumerGroup !== group) {
    problems.push(
      `${where}: measures group ${trigger.metadata.consumerGroup}, but the ${stage} consumes as ${group}`,
    );
  }
  // One named topic would leave the others unmeasured (the tagger's and router's expedited lane).
  if (trigger.metadata.topic !== undefined) {
    problems.push(
      `${where}: topic is ${trigger.metadata.topic}, expected (all of the group): the ${stage} reads several topics`,
    );
  }
  if (trigger.metadata.bootstrapServers !== facts.config.brokers.join(',')) {
    problems.push(
      `${where}: bootstrapServers ${trigger.metadata.bootstrapServers} differ from PF_KAFKA_BROKERS`,
    );
  }
  return problems;
}

async function main(paths: readonly string[]): Promise<number> {
  if (paths.length === 0) {
    console.error('usage: node scripts/helm-env-check.ts <rendered.yaml>...');
    return 2;
  }
  let failed = false;
  for (const path of paths) {
    const manifests = parseAllDocuments(readFileSync(path, 'utf8'))
      .map((document) => document.toJS() as Manifest | null)
      .filter((manifest): manifest is Manifest => manifest !== null);
    const problems = await checkRendered(manifests);
    const stages = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet').length;
    if (problems.length === 0) {
      console.log(`helm-env-check: ${path}: ${stages} stages agree with the services' configuration`);
    } else {
      failed = true;
      for (const problem of problems) console.error(`helm-env-check: ${path}: ${problem}`);
    }
  }
  return failed ? 1 : 0;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
