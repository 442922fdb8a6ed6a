import { readFileSync } from 'node:fs';
import { kafkaFailure } from '@patternflow/kafka';
import { Command, CommanderError, Option } from 'commander';
import { registerDlq } from './commands/dlq.ts';
import { registerModelCommand } from './commands/model.ts';
import { registerPolicyCommand } from './commands/policy.ts';
import { registerReplay } from './commands/replay.ts';
import { registerSkip } from './commands/skip.ts';
import { registerStatus } from './commands/status.ts';
import { registerTail } from './commands/tail.ts';
import type { CommandContext, RegisterCommand } from './context.ts';
import { describeFailure, EXIT_CODES_HELP, type ExitCode, ExitCodes } from './exit.ts';
import { type Io, processIo } from './output.ts';
import { createSession, type Session } from './session.ts';
import { type GlobalFlags, loadCliSettings } from './settings.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Every command of `patternflow`, in the order `--help` lists them. */
const COMMANDS: readonly RegisterCommand[] = [
  registerStatus,
  registerTail,
  registerDlq,
  registerReplay,
  registerSkip,
  registerPolicyCommand,
  registerModelCommand,
];

export interface RunOptions {
  io?: Io;
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra commands (tests); production uses COMMANDS. */
  commands?: readonly RegisterCommand[];
  signal?: AbortSignal;
}

/**
 * Runs one invocation of `patternflow` and returns its exit code (exit.ts). Never calls
 * process.exit: the caller sets the code, so open clients close and output flushes first.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<ExitCode> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  const interrupt = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, interrupt.signal]) : interrupt.signal;
  const onSignal = () => interrupt.abort();
  if (!options.signal) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  let exitCode: ExitCode = ExitCodes.OK;
  let session: Session | undefined;
  const program = createProgram(io);
  const context: CommandContext = {
    io,
    env,
    signal,
    json: () => program.opts<{ json?: boolean }>().json === true,
    session() {
      if (!session) {
        const flags = program.opts<GlobalFlags & { logLevel?: string }>();
        session = createSession(loadCliSettings(env, flags), { logLevel: flags.logLevel });
      }
      return session;
    },
    action:
      (body) =>
      async (...args) => {
        exitCode = await body(...args);
      },
  };
  for (const register of options.commands ?? COMMANDS) register(program, context);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = failureExitCode(error, io);
  } finally {
    await session?.close();
    if (!options.signal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  return exitCode;
}

function failureExitCode(error: unknown, io: Io): ExitCode {
  if (error instanceof CommanderError) {
    // --help and --version end through here with exit code 0; commander already printed.
    if (error.exitCode === 0) return ExitCodes.OK;
    return ExitCodes.USAGE;
  }
  // A kafkajs error from any call (not only the first connect) says which Kafka failure it
  // is, so that an outage mid-command still exits 3 (unavailable), not 1.
  const { exitCode, message } = describeFailure(kafkaFailure(error) ?? error);
  io.err(`patternflow: ${message}`);
  return exitCode;
}

function createProgram(io: Io): Command {
  const program = new Command('patternflow')
    .description(
      'Operate a patternflow pipeline: its stages, topics, dead letters, routing policy and replays.',
    )
    .version(VERSION)
    .option('--brokers <list>', 'Kafka bootstrap servers, host:port[,…] (default: $PF_KAFKA_BROKERS)')
    .option('--registry <url>', 'schema registry URL, Confluent API (default: $PF_REGISTRY_URL)')
    .option('--namespace <prefix>', 'topic namespace of the pipeline (default: $PF_TOPIC_NAMESPACE)')
    .option('--json', 'print one JSON document for scripts instead of text')
    .addOption(
      new Option('--log-level <level>', "the Kafka client's own log lines, on stderr")
        .choices(['silent', 'error', 'warn', 'info', 'debug'])
        .default('silent'),
    )
    .addHelpText(
      'after',
      `\nSettings come from the same PF_* variables as the services (docs/operations.md).\n\n${EXIT_CODES_HELP}`,
    )
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
    });
  // Subcommands created with .command() copy exitOverride and configureOutput, so a bad
  // option of a subcommand also ends in failureExitCode (USAGE), never in process.exit.
  return program;
}
