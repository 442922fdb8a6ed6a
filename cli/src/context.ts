import type { Command } from 'commander';
import type { ExitCode } from './exit.ts';
import type { Io } from './output.ts';
import type { Session } from './session.ts';

/** What every command gets: its output, the global options and one shared session. */
export interface CommandContext {
  readonly io: Io;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: long-running commands (tail) stop and clean up. */
  readonly signal: AbortSignal;
  /** `--json`: print one JSON document for scripts instead of text for people. */
  json(): boolean;
  /** The session of this invocation, opened on first use from the environment and the global flags. */
  session(): Session;
  /**
   * Wraps a command's body for commander's `.action()`: the number it resolves to is the
   * process's exit code; whatever it throws is reported by main with its exit code.
   */
  action<Args extends unknown[]>(
    body: (...args: Args) => Promise<ExitCode>,
  ): (...args: Args) => Promise<void>;
}

/** A command module adds its command (and subcommands) to the program. */
export type RegisterCommand = (program: Command, context: CommandContext) => void;
