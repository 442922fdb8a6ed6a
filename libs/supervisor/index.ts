export {
  createSupervisor,
  type ProgramSpec,
  type ProgramState,
  type Supervisor,
  type SupervisorOptions,
} from './supervisor.ts';
