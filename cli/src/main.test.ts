import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import kafkajs from 'kafkajs';
import type { RegisterCommand } from './context.ts';
import { CliError, ExitCodes } from './exit.ts';
import { run } from './main.ts';
import type { Io } from './output.ts';

function capture(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

/** A command whose body the test chooses, to exercise the frame alone. */
const probe =
  (body: (context: Parameters<RegisterCommand>[1], value: string) => Promise<number>): RegisterCommand =>
  (program, context) => {
    program
      .command('probe <value>')
      .description('a test command')
      .option('--flag', 'a flag')
      .action(context.action(async (value: string) => (await body(context, value)) as 0));
  };

const quiet = { signal: new AbortController().signal };

test('--help lists the commands and the exit codes, and exits 0', async () => {
  const io = capture();
  const code = await run(['--help'], { io, commands: [probe(async () => 0)], ...quiet });
  assert.equal(code, ExitCodes.OK);
  const help = io.stdout.join('\n');
  assert.match(help, /probe \[options\] <value>/);
  assert.match(help, /Exit codes:/);
  assert.match(help, /--json/);
});

test('an unknown command, a missing argument or an unknown option exits 2 (usage)', async () => {
  for (const argv of [['nope'], ['probe'], ['probe', 'x', '--nope']]) {
    const io = capture();
    const code = await run(argv, { io, commands: [probe(async () => 0)], ...quiet });
    assert.equal(code, ExitCodes.USAGE, argv.join(' '));
    assert.ok(io.stderr.join('\n').length > 0, `${argv.join(' ')} says why`);
  }
});

test("a command's own result is the exit code", async () => {
  const io = capture();
  const code = await run(['probe', 'x'], { io, commands: [probe(async () => ExitCodes.FAILED)], ...quiet });
  assert.equal(code, ExitCodes.FAILED);
});

test('thrown errors map to their exit codes with one line on stderr', async () => {
  const cases: [unknown, number, RegExp][] = [
    [new CliError(ExitCodes.REFUSED, 'stage is running'), ExitCodes.REFUSED, /stage is running/],
    [new PipelineError(ErrorCodes.KAFKA_UNAVAILABLE, 'no broker'), ExitCodes.UNAVAILABLE, /no broker/],
    [new PipelineError(ErrorCodes.POLICY_INVALID, 'bad rule'), ExitCodes.FAILED, /bad rule/],
    [new Error('boom'), ExitCodes.FAILED, /unexpected error: boom/],
  ];
  for (const [error, expected, message] of cases) {
    const io = capture();
    const code = await run(['probe', 'x'], {
      io,
      commands: [
        probe(async () => {
          throw error;
        }),
      ],
      ...quiet,
    });
    assert.equal(code, expected);
    assert.equal(io.stderr.length, 1);
    assert.match(io.stderr[0] as string, message);
  }
});

test('a bad setting exits 2 and names the variable; flags override the environment', async () => {
  const io = capture();
  const useSession = probe(async (context) => {
    context.session();
    return 0;
  });
  const code = await run(['probe', 'x'], {
    io,
    env: { PF_KAFKA_BROKERS: 'not a broker' },
    commands: [useSession],
    ...quiet,
  });
  assert.equal(code, ExitCodes.USAGE);
  assert.match(io.stderr.join('\n'), /PF_KAFKA_BROKERS must be host:port/);

  let seen: readonly string[] = [];
  const okIo = capture();
  const ok = await run(['--brokers', '127.0.0.1:1', 'probe', 'x'], {
    io: okIo,
    env: { PF_KAFKA_BROKERS: 'not a broker' },
    commands: [
      probe(async (context) => {
        seen = context.session().settings.brokers;
        return 0;
      }),
    ],
    ...quiet,
  });
  assert.equal(ok, ExitCodes.OK);
  assert.deepEqual(seen, ['127.0.0.1:1']);
});

test('an unreachable broker exits 3 (unavailable), after a bounded wait', async () => {
  const io = capture();
  const started = Date.now();
  const code = await run(['--brokers', '127.0.0.1:1', 'probe', 'x'], {
    io,
    env: {},
    commands: [
      probe(async (context) => {
        await context.session().admin();
        return 0;
      }),
    ],
    ...quiet,
  });
  assert.equal(code, ExitCodes.UNAVAILABLE);
  assert.match(io.stderr.join('\n'), /127\.0\.0\.1:1|ECONNREFUSED|connect/i);
  assert.ok(Date.now() - started < 20_000, 'a person is not kept waiting for a service-sized retry budget');
});

test('every command and subcommand of patternflow answers --help with exit 0', async () => {
  const commands = [
    ['status'],
    ['tail'],
    ['dlq'],
    ['dlq', 'list'],
    ['dlq', 'show'],
    ['dlq', 'redrive'],
    ['replay'],
    ['skip'],
  ];
  for (const command of commands) {
    const io = capture();
    const code = await run([...command, '--help'], { io, env: {}, ...quiet });
    assert.equal(code, ExitCodes.OK, command.join(' '));
    const help = io.stdout.join('\n');
    assert.match(help, new RegExp(`^Usage: patternflow ${command.join(' ')} `), command.join(' '));
    assert.ok(
      command[0] === 'dlq' && command.length === 1
        ? /list|show|redrive/.test(help)
        : /Example|Exit codes/.test(help),
      command.join(' '),
    );
  }
});

test('a Kafka client error thrown mid-command maps to its exit code: unavailable is 3', async () => {
  const io = capture();
  const code = await run(['probe', 'x'], {
    io,
    commands: [
      probe(async () => {
        throw new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1');
      }),
    ],
    ...quiet,
  });
  assert.equal(code, ExitCodes.UNAVAILABLE);
  assert.match(io.stderr.join('\n'), /Kafka unavailable .*ECONNREFUSED/);
});
