export {
  activeHolds,
  type HoldRequest,
  isProcessAlive,
  type RunDirPaths,
  type RunState,
  readRunState,
  releaseHold,
  requestHold,
  runDirPaths,
  runningSupervisorPid,
  writeRunState,
} from './run-dir.ts';
export {
  createSupervisor,
  type ProgramSpec,
  type ProgramState,
  type Supervisor,
  type SupervisorOptions,
} from './supervisor.ts';
