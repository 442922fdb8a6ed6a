export {
  groupIdOf,
  STAGES,
  type Stage,
  type StageConfig,
  stageConfigChecks,
  stageConfigSpec,
} from './config.ts';
export { type Decoded, decodeRecords } from './decode.ts';
export { exitOnStartupFailure, runStage, type StageDefinition } from './run-stage.ts';
