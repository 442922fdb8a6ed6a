/**
 * @patternflow/harness: what the demo, the load generator, the benchmark and the
 * integration/e2e tests share to drive the real stack. Production code never imports it
 * (tools/production-imports.test.ts checks that).
 */

export { type DeleteNamespaceOptions, deleteNamespace, deleteValueSubjects } from './cleanup.ts';
export { type CliResult, type RunningCli, runPatternflow, spawnPatternflow } from './cli.ts';
export { coldFileIds } from './cold-files.ts';
export { type LoadOptions, type LoadResult, produceGeneratedEvents } from './load.ts';
export { copyModelStore, createTestKeyPair, type TestKeyPair, type TestModelStore } from './model-store.ts';
export { PORT_BLOCK_SIZE, reservePorts } from './ports.ts';
export {
  type ActiveAlert,
  findPrometheus,
  type LocalPrometheus,
  type PrometheusApi,
  prometheusApi,
  type ScrapeTarget,
  startPrometheus,
} from './prometheus.ts';
export { metricNamesOf } from './promql.ts';
export { metricSum, SERVICE_NAMES, type ServiceFleet, type ServiceName, startServices } from './services.ts';
export { type SecureStack, secureStack, stack, uniqueName } from './stack.ts';
export { type ReadRecord, readTopic } from './topic-reader.ts';
