export {
  groupIdOf,
  groupIdVariable,
  policyFileField,
  STAGES,
  type Stage,
  type StageConfig,
  stageConfigChecks,
  stageConfigSpec,
} from './config.ts';
export { type Decoded, decodeRecords } from './decode.ts';
export {
  type DefinedStageService,
  defineStageService,
  type RunningStage,
  runMain,
  type ServiceConfig,
  type StageBuildDeps,
  type StageDeps,
  type StageParts,
  type StageService,
  startService,
} from './start.ts';
