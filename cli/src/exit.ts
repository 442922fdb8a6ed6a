import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';

/**
 * What `patternflow` exits with; scripts may rely on these numbers. Documented in
 * docs/operations.md (CLI), and `patternflow --help` prints them.
 */
export const ExitCodes = Object.freeze({
  /** The command did what it was asked, and the answer is yes (healthy, valid, applied). */
  OK: 0,
  /** The command ran, and the answer is no: a policy with problems, a stage down, nothing matched. */
  FAILED: 1,
  /** Bad arguments or configuration: nothing was attempted. */
  USAGE: 2,
  /** Kafka, the registry, PostgreSQL or a stage's HTTP endpoint could not be reached. */
  UNAVAILABLE: 3,
  /** Refused for safety: e.g. a replay while the stage is running, without --force. */
  REFUSED: 4,
  /** Interrupted (Ctrl-C), 128 + SIGINT as shells do. */
  INTERRUPTED: 130,
});

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

export const EXIT_CODES_HELP = `Exit codes:
  0    done; the answer is yes (healthy, valid, applied)
  1    the command ran and the answer is no (problems found, a stage down, nothing matched)
  2    bad arguments or configuration
  3    Kafka, the registry, PostgreSQL or a stage could not be reached
  4    refused for safety (see the message; usually --force exists)
  130  interrupted`;

/** A failure the CLI reports as one line on stderr, with the exit code it names. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** The exit code and one-line message of anything a command threw. */
export function describeFailure(error: unknown): { exitCode: ExitCode; message: string } {
  if (error instanceof CliError) return { exitCode: error.exitCode, message: error.message };
  if (error instanceof PipelineError) {
    if (error.code === ErrorCodes.CONFIG_INVALID)
      return { exitCode: ExitCodes.USAGE, message: error.message };
    if (error.code === ErrorCodes.POLICY_INVALID)
      return { exitCode: ExitCodes.FAILED, message: error.message };
    // 'retry' means a dependency is down or unreachable: the same command may work later.
    if (dispositionOf(error) === 'retry') return { exitCode: ExitCodes.UNAVAILABLE, message: error.message };
    return { exitCode: ExitCodes.FAILED, message: `${error.code}: ${error.message}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: ExitCodes.FAILED, message: `unexpected error: ${message}` };
}
