/**
 * Kafka moves a group's offsets only while the group has no members, so a replay needs
 * the stage stopped. `--force` gets it stopped: under `make run`, by asking its supervisor
 * to hold the stage (libs/supervisor run-dir holds); elsewhere (an orchestrator), by
 * waiting for the operator to stop it. Either way the reset starts once the group is empty.
 */
import type { Stage } from '@patternflow/service';
import { readRunState, releaseHold, requestHold, runningSupervisorPid } from '@patternflow/supervisor';
import type { Admin } from 'kafkajs';
import { CliError, ExitCodes } from '../exit.ts';
import type { Io } from '../output.ts';

/** Members of the group now (0 when it does not exist). */
export async function groupMembers(admin: Admin, groupId: string): Promise<number> {
  const { groups } = await admin.describeGroups([groupId]);
  return groups[0]?.members.length ?? 0;
}

/** Whether `make run`'s supervisor in `runDir` runs this stage of this pipeline. */
export function supervisesStage(runDir: string, namespace: string, stage: Stage): boolean {
  if (runningSupervisorPid(runDir) === undefined) return false;
  const state = readRunState(runDir);
  return state?.topicNamespace === namespace && state.services.some((service) => service.name === stage);
}

export interface Quiesced {
  /** Starts the stage again (when it was held); safe to call twice. */
  release(): void;
}

/**
 * Resolves once `groupId` has no members, the stage held by the supervisor if there is
 * one. Refuses (exit 4) when the group still has members after `waitMs`; the hold is
 * released then, so the stage runs again.
 */
export async function quiesceStage(options: {
  admin: Admin;
  groupId: string;
  stage: Stage;
  runDir: string;
  namespace: string;
  waitMs: number;
  reason: string;
  io: Io;
  signal: AbortSignal;
}): Promise<Quiesced> {
  const { admin, groupId, stage, runDir, io } = options;
  let held = false;
  const release = () => {
    if (!held) return;
    held = false;
    releaseHold(runDir, stage, process.pid);
    io.err(`released ${stage}: make run's supervisor starts it again`);
  };
  if (supervisesStage(runDir, options.namespace, stage)) {
    try {
      requestHold(runDir, {
        program: stage,
        holderPid: process.pid,
        reason: options.reason,
        since: new Date().toISOString(),
      });
    } catch (error) {
      // Another operator's replay holds it: two resets must not interleave.
      throw new CliError(ExitCodes.REFUSED, (error as Error).message, { cause: error });
    }
    held = true;
    io.err(`asked make run's supervisor (${runDir}) to stop ${stage} for the reset`);
  } else {
    io.err(
      `waiting up to ${Math.round(options.waitMs / 1000)} s for ${stage} to stop (group ${groupId} to have no members): stop it where it runs`,
    );
  }
  const deadline = Date.now() + options.waitMs;
  try {
    for (;;) {
      const members = await groupMembers(admin, groupId);
      if (members === 0) return { release };
      if (options.signal.aborted) throw new CliError(ExitCodes.INTERRUPTED, 'interrupted; nothing was reset');
      if (Date.now() > deadline) {
        throw new CliError(
          ExitCodes.REFUSED,
          `${stage} still has ${members} member(s) in group ${groupId} after ${Math.round(options.waitMs / 1000)} s; nothing was reset`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } catch (error) {
    release();
    throw error;
  }
}
