/**
 * `patternflow policy check|dry-run|apply|show|history`: the routing policy in force lives on
 * the control topic (libs/control); every router replica follows it and swaps between two
 * batches. These commands validate a candidate, replay recent tagged records through it,
 * apply it (with its audit entry, in one transaction) and show what is in force and who
 * changed it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import {
  applyControlRecord,
  type ControlState,
  controlTopicSpecs,
  decodeControlRecord,
  emptyControlState,
  groupMembers,
  liveReplicas,
  POLICY_SUBJECT,
  type PolicyRecord,
  policyChange,
  policyOfRecord,
  readAuditTrail,
  readControlState,
  sha256Of,
} from '@patternflow/control';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import {
  ensureTopics,
  followTopic,
  kafkaFailure,
  openTransactionalWriter,
  readTopicToEnd,
} from '@patternflow/kafka';
import { coldLanesOf, layoutChange, type Policy, parsePolicy } from '@patternflow/policy';
import { loadSchema, type TaggedPattern } from '@patternflow/records';
import { type Command, InvalidArgumentError } from 'commander';
import { type AckView, type WaitOutcome, waitForAcknowledgements } from '../acknowledgements.ts';
import { printAuditHistory } from '../audit-history.ts';
import type { CommandContext, RegisterCommand } from '../context.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { type Column, formatTable, printJson } from '../output.ts';
import type { Session } from '../session.ts';
import { compareRouting, type DryRunReport } from './policy-dry-run.ts';

/** A person waits for these reads: a broker that does not answer fails the command within this. */
const READ_TIMEOUT_MS = 15_000;

const positiveInteger = (what: string) => (raw: string) => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new InvalidArgumentError(`${what} must be a positive integer`);
  return value;
};

/** The OS account, for the audit trail's `who`; a container may have no passwd entry for its uid. */
function accountName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** A group of one read alone; readTopicToEnd deletes it afterwards. */
const throwawayGroup = () => `patternflow-cli.${randomUUID()}`;

interface Candidate {
  readonly file: string;
  readonly yaml: string;
  readonly sha256: string;
  /** Undefined when the file does not validate (see problems). */
  readonly policy: Policy | undefined;
  readonly problems: readonly string[];
}

function readCandidate(file: string): Candidate {
  let yaml: string;
  try {
    yaml = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliError(ExitCodes.USAGE, `cannot read ${file}: ${code}`);
  }
  try {
    return { file, yaml, sha256: sha256Of(yaml), policy: parsePolicy(yaml, file), problems: [] };
  } catch (error) {
    if (!(error instanceof PipelineError) || error.code !== ErrorCodes.POLICY_INVALID) throw error;
    const problems = (error.details.problems as string[] | undefined) ?? [error.message];
    return { file, yaml, sha256: sha256Of(yaml), policy: undefined, problems };
  }
}

function problemsText(candidate: Candidate): string {
  const n = candidate.problems.length;
  return [
    `${candidate.file}: invalid routing policy, ${n} problem${n === 1 ? '' : 's'}:`,
    ...candidate.problems.map((p) => `  - ${p}`),
  ].join('\n');
}

function summary(policy: Policy): Record<string, unknown> {
  return {
    version: policy.version,
    lanes: policy.lanes,
    coldLanes: coldLanesOf(policy) ?? null,
    rules: policy.rules,
    regions: Object.fromEntries([...policy.regions].map(([region, r]) => [region, r.allowedLanes])),
    expedite: policy.expedite.map((e) => e.name),
  };
}

function summaryText(policy: Policy): string[] {
  const cold = coldLanesOf(policy);
  const regions = [...policy.regions].map(([region, r]) => `${region} → ${r.allowedLanes.join(', ')}`);
  return [
    `  lanes    ${policy.lanes.join(', ')}${cold ? ` (cold files: ${cold.join(', ') || 'none'})` : ''}`,
    `  rules    ${policy.rules.length}: ${policy.rules.map((r) => `${r.rule} → ${r.lane}`).join(', ')}`,
    `  regions  ${regions.length > 0 ? regions.join('; ') : 'none restricted'}`,
    `  expedite ${policy.expedite.length > 0 ? policy.expedite.map((e) => e.name).join(', ') : 'none'} (read by the ingestor and the tagger at start)`,
  ];
}

const inForceJson = (record: PolicyRecord | undefined) =>
  record
    ? {
        version: record.version,
        sha256: record.sha256,
        applied_by: record.applied_by,
        applied_at: record.applied_at,
        reason: record.reason,
        previous_version: record.previous_version,
      }
    : null;

/** Kafka's errors as PipelineErrors (exit 3 when unreachable). */
async function kafkaCall<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw kafkaFailure(error) ?? error;
  }
}

function readState(session: Session): Promise<ControlState> {
  return readControlState({
    kafka: session.kafka(),
    topics: session.topics,
    groupId: throwawayGroup(),
    logger: session.logger,
    timeoutMs: READ_TIMEOUT_MS,
  });
}

/**
 * Why `candidate` cannot replace the policy in force, if it cannot: the same content, the
 * same version with other content (`others`), or another lane layout (`layout`, which
 * `apply --lane-change` may override when nothing runs).
 */
function conflictsWith(
  record: PolicyRecord | undefined,
  candidate: Candidate & { policy: Policy },
): { others: string[]; layout: string | undefined } {
  if (!record) return { others: [], layout: undefined };
  if (record.sha256 === candidate.sha256) {
    return {
      others: [`version ${record.version} with this exact content is already in force`],
      layout: undefined,
    };
  }
  const others: string[] = [];
  if (record.version === candidate.policy.version) {
    others.push(
      `version ${record.version} is the version in force, with other content: bump version (it is stamped on every routed record)`,
    );
  }
  let change: string | undefined;
  try {
    change = layoutChange(policyOfRecord(record), candidate.policy);
  } catch {
    // The policy in force does not validate here (written by another release?): nothing to compare with.
  }
  const layout =
    change === undefined
      ? undefined
      : `the lane layout differs from version ${record.version} in force (${change}): lanes are topics the sinks consume and registry subjects, so a lane change is a redeploy (docs/routing.md#lane-changes)`;
  return { others, layout };
}

async function check(
  context: CommandContext,
  file: string,
  options: { offline?: boolean },
): Promise<ExitCode> {
  const { io } = context;
  const candidate = readCandidate(file);
  let record: PolicyRecord | undefined;
  let conflicts: string[] = [];
  if (candidate.policy && !options.offline) {
    try {
      record = (await readState(context.session())).policy;
    } catch (error) {
      if (error instanceof PipelineError && dispositionOf(error) === 'retry') {
        throw new CliError(
          ExitCodes.UNAVAILABLE,
          `${error.message}; the file is valid: add --offline to validate it without comparing`,
        );
      }
      throw error;
    }
    const { others, layout } = conflictsWith(record, { ...candidate, policy: candidate.policy });
    conflicts = layout === undefined ? others : [...others, layout];
  }
  const ok = candidate.policy !== undefined && conflicts.length === 0;
  if (context.json()) {
    printJson(io, {
      file,
      valid: candidate.policy !== undefined,
      sha256: candidate.sha256,
      problems: candidate.problems,
      policy: candidate.policy ? summary(candidate.policy) : null,
      compared: candidate.policy !== undefined && !options.offline,
      inForce: inForceJson(record),
      conflicts,
    });
    return ok ? ExitCodes.OK : ExitCodes.FAILED;
  }
  if (!candidate.policy) {
    io.out(problemsText(candidate));
    return ExitCodes.FAILED;
  }
  io.out(`${file}: valid routing policy, version ${candidate.policy.version}`);
  io.out(summaryText(candidate.policy).join('\n'));
  if (options.offline) {
    io.out('not compared with the policy in force (--offline)');
  } else if (!record) {
    io.out(
      `no policy in force on ${context.session().topics.controlPolicy} yet: the first router replica seeds it from its PF_POLICY_FILE`,
    );
  } else if (conflicts.length > 0) {
    io.out(`cannot replace version ${record.version} in force:`);
    io.out(conflicts.map((c) => `  - ${c}`).join('\n'));
  } else {
    io.out(
      `can replace version ${record.version} in force (applied by ${record.applied_by} at ${record.applied_at})`,
    );
  }
  return ok ? ExitCodes.OK : ExitCodes.FAILED;
}

async function dryRun(
  context: CommandContext,
  file: string,
  options: { sample: number; examples: number },
): Promise<ExitCode> {
  const { io } = context;
  const candidate = readCandidate(file);
  if (!candidate.policy) {
    if (context.json()) printJson(io, { file, valid: false, problems: candidate.problems });
    else io.out(problemsText(candidate));
    return ExitCodes.FAILED;
  }
  const session = context.session();
  const record = (await readState(session)).policy;
  if (!record) {
    throw new CliError(
      ExitCodes.FAILED,
      `no policy in force on ${session.topics.controlPolicy} to compare with: the first router replica seeds it from its PF_POLICY_FILE`,
    );
  }
  const inForce = policyOfRecord(record);
  // The last `sample` records of each partition of both tagged topics (the expedited lane holds
  // most of what may become critical), then the `sample` most recent of those.
  const tagged = [session.topics.taggedPriority, session.topics.tagged];
  const raw: Awaited<ReturnType<typeof readTopicToEnd>> = [];
  for (const topic of tagged) {
    raw.push(
      ...(await readTopicToEnd({
        kafka: session.kafka(),
        topic,
        groupId: throwawayGroup(),
        logger: session.logger,
        lastPerPartition: options.sample,
        catchUpTimeoutMs: READ_TIMEOUT_MS,
      })),
    );
  }
  const recent = raw
    .sort((a, b) => b.timestamp - a.timestamp || Number(BigInt(b.offset) - BigInt(a.offset)))
    .slice(0, options.sample);
  const decoder = session.codec().decoderFor(loadSchema('tagged'));
  const records: TaggedPattern[] = [];
  let undecodable = 0;
  for (const inbound of recent) {
    if (inbound.value === null) {
      undecodable++;
      continue;
    }
    try {
      records.push((await decoder.decode(inbound.value)).value as TaggedPattern);
    } catch (error) {
      // The registry being away fails the command (exit 3); a bad record is only counted.
      if (error instanceof PipelineError && error.code === ErrorCodes.REGISTRY_UNAVAILABLE) throw error;
      undecodable++;
    }
  }
  const report = compareRouting(inForce, candidate.policy, records, options.examples);
  const sample = { requested: options.sample, read: recent.length, routed: records.length, undecodable };
  if (context.json()) {
    printJson(io, {
      file,
      valid: true,
      topic: session.topics.tagged,
      topics: tagged,
      sample,
      inForce: { version: inForce.version, sha256: record.sha256 },
      candidate: { version: candidate.policy.version, sha256: candidate.sha256 },
      ...report,
    });
    return records.length > 0 ? ExitCodes.OK : ExitCodes.FAILED;
  }
  if (records.length === 0) {
    io.out(
      `no tagged records to replay on ${tagged.join(' or ')} (read ${recent.length}, undecodable ${undecodable})`,
    );
    return ExitCodes.FAILED;
  }
  io.out(dryRunText(report, inForce.version, candidate.policy.version, sample, tagged.join(' and ')));
  return ExitCodes.OK;
}

function dryRunText(
  report: DryRunReport,
  from: string,
  to: string,
  sample: { read: number; undecodable: number },
  topic: string,
): string {
  const pct = (n: number) => `${((100 * n) / report.records).toFixed(1)}%`;
  const lines = [
    `${report.records} most recent records of ${topic}${sample.undecodable > 0 ? ` (${sample.undecodable} undecodable, skipped)` : ''}, routed by version ${from} in force and by candidate ${to}:`,
    `  ${report.changedLane} change lane (${pct(report.changedLane)}), ${report.changedRuleOnly} keep their lane under another rule`,
  ];
  if (report.regionForbidden > 0) {
    lines.push(
      `  ${report.regionForbidden} would be dead-lettered: their region forbids the candidate's lane`,
    );
  }
  const matrixColumns: Column<DryRunReport['matrix'][number]>[] = [
    { header: 'in force', value: (c) => c.from },
    { header: 'candidate', value: (c) => c.to },
    { header: 'records', value: (c) => c.count, align: 'right' },
    { header: '', value: (c) => (c.from === c.to ? '' : 'changed') },
  ];
  const ruleColumns: Column<DryRunReport['inForceRules'][number]>[] = [
    { header: 'rule', value: (r) => r.rule },
    { header: 'lane', value: (r) => r.lane },
    { header: 'hits', value: (r) => r.hits, align: 'right' },
  ];
  lines.push('', 'lanes:', formatTable(report.matrix, matrixColumns));
  lines.push('', `rules of ${from} (in force):`, formatTable(report.inForceRules, ruleColumns));
  lines.push('', `rules of ${to} (candidate):`, formatTable(report.candidateRules, ruleColumns));
  if (report.examples.length > 0) {
    lines.push(
      '',
      'examples:',
      formatTable(report.examples, [
        { header: 'id', value: (e) => e.id },
        { header: 'region', value: (e) => e.region },
        { header: 'in force', value: (e) => `${e.from.lane} (${e.from.rule})` },
        { header: 'candidate', value: (e) => `${e.to.lane} (${e.to.rule})` },
      ]),
    );
  }
  return lines.join('\n');
}

async function apply(
  context: CommandContext,
  file: string,
  options: { reason: string; who?: string; wait?: boolean; timeout: number; laneChange?: boolean },
): Promise<ExitCode> {
  const { io, env } = context;
  const candidate = readCandidate(file);
  if (!candidate.policy) {
    if (context.json()) printJson(io, { file, valid: false, problems: candidate.problems, applied: null });
    else io.out(problemsText(candidate));
    return ExitCodes.FAILED;
  }
  const policy = candidate.policy;
  if (options.reason.trim() === '') throw new CliError(ExitCodes.USAGE, '--reason must say why');
  const session = context.session();
  const { topics } = session;
  const kafka = session.kafka();
  // The CLI may be the first to touch a new pipeline's control plane.
  await kafkaCall(ensureTopics(kafka, controlTopicSpecs(topics)));
  const previous = (await readState(session)).policy;
  const { others, layout } = conflictsWith(previous, { ...candidate, policy });
  const blocking = options.laneChange || layout === undefined ? others : [...others, layout];
  if (blocking.length > 0) {
    throw new CliError(
      ExitCodes.REFUSED,
      `refused to apply ${file}: ${blocking.join('; ')}${layout !== undefined ? '; to change lanes: stop the routers and sinks, apply with --lane-change, then start them with the new PF_POLICY_FILE' : ''}`,
    );
  }
  if (layout !== undefined) {
    // Running routers would refuse it, and running sinks consume the old lanes: only when none runs.
    const admin = await session.admin();
    const routers = (await liveReplicas(admin, session.groupIdOf('priority-router'))).length;
    const sinks = await groupMembers(admin, session.groupIdOf('sink'));
    if (routers > 0 || sinks > 0) {
      throw new CliError(
        ExitCodes.REFUSED,
        `refused a lane change while ${routers} router replica(s) and ${sinks} sink member(s) run: stop them first (docs/routing.md#lane-changes)`,
      );
    }
  }
  const who = options.who ?? `${env.USER ?? env.LOGNAME ?? accountName()}@${hostname()}`;
  const change = policyChange({
    topics,
    yaml: candidate.yaml,
    policy,
    who,
    reason: options.reason,
    previous,
    action: 'policy.apply',
  });
  // One transaction: the policy in force never changes without its audit entry.
  const writer = openTransactionalWriter({
    kafka,
    transactionalId: `patternflow-cli.${topics.controlPolicy}`,
  });
  try {
    await writer.write(change.messages);
  } finally {
    await writer.close();
  }
  const applied = { ...inForceJson(change.record), file };
  if (!context.json()) {
    io.out(
      `applied ${file}: version ${policy.version}${previous ? ` replaces ${previous.version}` : ''} (sha256 ${candidate.sha256.slice(0, 12)}…), by ${who}: ${options.reason}`,
    );
  }
  if (!options.wait) {
    if (context.json()) printJson(io, { applied, replicas: null });
    return ExitCodes.OK;
  }
  const outcome = await waitForReplicas(context, change.record, options.timeout * 1000);
  if (context.json()) {
    printJson(io, { applied, replicas: outcome.replicas, waited: outcome.result });
  } else {
    io.out(outcome.text);
  }
  return outcome.result === 'in-force' ? ExitCodes.OK : ExitCodes.FAILED;
}

interface ReplicaView extends AckView {
  version: string | null;
  at: string | null;
}

/** Follows the control topic until every router replica that runs has acknowledged `record` (or refused it). */
function waitForReplicas(
  context: CommandContext,
  record: PolicyRecord,
  timeoutMs: number,
): Promise<WaitOutcome<ReplicaView>> {
  const session = context.session();
  const state = emptyControlState();
  const follower = followTopic({
    kafka: session.kafka(),
    topic: session.topics.controlPolicy,
    groupId: throwawayGroup(),
    logger: session.logger,
    onRecord: (inbound) => applyControlRecord(state, decodeControlRecord(inbound)),
    catchUpTimeoutMs: READ_TIMEOUT_MS,
  });
  return waitForAcknowledgements({
    follower,
    views: async () => {
      const live = await liveReplicas(await session.admin(), session.groupIdOf('priority-router'));
      return live.map((replica) => {
        const ack = state.acks.get(replica);
        const mine = ack?.sha256 === record.sha256;
        return {
          replica,
          status: mine ? (ack?.status ?? 'pending') : 'pending',
          version: ack?.version ?? null,
          at: ack?.at ?? null,
          ...(mine && ack?.detail ? { detail: ack.detail } : {}),
        };
      });
    },
    serving: (view) => view.version,
    replicas: 'router',
    noneRunning: 'no router replica runs: the policy applies when one starts',
    timeoutMs,
    pollMs: 200,
    signal: context.signal,
  });
}

async function show(context: CommandContext, options: { yaml?: boolean }): Promise<ExitCode> {
  const { io } = context;
  const session = context.session();
  const state = await readState(session);
  const record = state.policy;
  const live = new Set(await liveReplicas(await session.admin(), session.groupIdOf('priority-router')));
  const replicas = [...new Set([...live, ...state.acks.keys()])].sort().map((replica) => {
    const ack = state.acks.get(replica);
    return {
      replica,
      running: live.has(replica),
      status: ack?.status ?? null,
      version: ack?.version ?? null,
      at: ack?.at ?? null,
      ...(ack?.detail ? { detail: ack.detail } : {}),
    };
  });
  let policy: Policy | undefined;
  let problem: string | undefined;
  if (record) {
    try {
      policy = policyOfRecord(record);
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
  }
  if (context.json()) {
    printJson(io, {
      topic: session.topics.controlPolicy,
      inForce: record
        ? {
            ...inForceJson(record),
            ...(policy ? summary(policy) : { problem }),
            ...(options.yaml ? { yaml: record.yaml } : {}),
          }
        : null,
      replicas,
    });
    return record ? ExitCodes.OK : ExitCodes.FAILED;
  }
  if (!record) {
    io.out(
      `no policy in force on ${session.topics.controlPolicy}: the first router replica seeds it from its PF_POLICY_FILE`,
    );
    return ExitCodes.FAILED;
  }
  io.out(`version ${record.version} in force (sha256 ${record.sha256.slice(0, 12)}…)`);
  io.out(`  applied  ${record.applied_at} by ${record.applied_by}: ${record.reason}`);
  io.out(`  replaces ${record.previous_version ?? 'nothing (first policy)'}`);
  if (policy) io.out(summaryText(policy).join('\n'));
  else io.out(`  does not validate here: ${problem}`);
  io.out('');
  io.out(
    replicas.length === 0
      ? 'router replicas: none runs'
      : formatTable(replicas, [
          { header: 'router replica', value: (r) => r.replica },
          { header: 'running', value: (r) => (r.running ? 'yes' : 'no (stale acknowledgement)') },
          {
            header: 'routes by',
            value: (r) => (r.status === 'in-force' ? r.version : `refused ${r.version}`),
          },
          { header: 'since', value: (r) => r.at },
        ]),
  );
  if (options.yaml) io.out(`\n${record.yaml}`);
  return ExitCodes.OK;
}

async function history(context: CommandContext, options: { limit: number }): Promise<ExitCode> {
  const session = context.session();
  const entries = (
    await readAuditTrail({
      kafka: session.kafka(),
      topics: session.topics,
      groupId: throwawayGroup(),
      logger: session.logger,
      timeoutMs: READ_TIMEOUT_MS,
    })
  )
    .filter((entry) => entry.subject === POLICY_SUBJECT)
    .reverse()
    .slice(0, options.limit);
  return printAuditHistory(context, entries, { what: 'policy', showSubject: false });
}

export const registerPolicyCommand: RegisterCommand = (program: Command, context: CommandContext) => {
  const policy = program
    .command('policy')
    .description('the routing policy: validate, dry-run, apply live to every router replica, show, history');
  policy
    .command('check')
    .description(
      'validate a policy file (every problem listed), and compare it with the policy in force: same lane layout, new version',
    )
    .argument('<file>', 'routing policy YAML')
    .option('--offline', 'validate the file only, without Kafka')
    .action(context.action((file: string, options: { offline?: boolean }) => check(context, file, options)));
  policy
    .command('dry-run')
    .description(
      'replay the most recent tagged records through the policy in force and the candidate: lane changes, from→to matrix, hits per rule, examples',
    )
    .argument('<file>', 'candidate routing policy YAML')
    .option('--sample <n>', 'how many of the most recent tagged records', positiveInteger('--sample'), 1000)
    .option('--examples <n>', 'example record ids per lane change', positiveInteger('--examples'), 3)
    .action(
      context.action((file: string, options: { sample: number; examples: number }) =>
        dryRun(context, file, options),
      ),
    );
  policy
    .command('apply')
    .description(
      'make a policy the one in force: validated, written with its audit entry in one transaction; every router replica swaps to it between two batches',
    )
    .argument('<file>', 'routing policy YAML')
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .option('--who <name>', 'who applies it (default: $USER@hostname)')
    .option('--wait', 'wait until every running router replica routes by it')
    .option('--timeout <seconds>', 'how long --wait waits', positiveInteger('--timeout'), 60)
    .option('--lane-change', 'allow another lane layout; only while no router or sink runs (a redeploy)')
    .action(
      context.action(
        (
          file: string,
          options: { reason: string; who?: string; wait?: boolean; timeout: number; laneChange?: boolean },
        ) => apply(context, file, options),
      ),
    );
  policy
    .command('show')
    .description(
      'the policy in force: version, who applied it when and why, and what each router replica routes by',
    )
    .option('--yaml', 'print the policy text too')
    .action(context.action((options: { yaml?: boolean }) => show(context, options)));
  policy
    .command('history')
    .description('the audit trail of policy changes, newest first')
    .option('--limit <n>', 'at most this many entries', positiveInteger('--limit'), 20)
    .action(context.action((options: { limit: number }) => history(context, options)));
};
