/**
 * `patternflow policy …` through the real bin (a subprocess, as an operator runs it) against
 * the real broker and registry: exit codes, text and --json output, the audit trail, a
 * dry-run over tagged records on the topic, and `apply --wait` with a router replica's live
 * policy running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { taggedPattern } from '@patternflow/fixtures';
import { deleteNamespace, deleteValueSubjects, stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics } from '@patternflow/kafka';
import { createLogger, Registry } from '@patternflow/observability';
import { parsePolicy } from '@patternflow/policy';
import { loadSchema, type TaggedPattern, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { groupIdOf } from '@patternflow/service';
import { type LivePolicy, startLivePolicy } from '../../services/priority-router/src/live-policy.ts';
import { createPolicyMetrics } from '../../services/priority-router/src/metrics.ts';

const BIN = fileURLToPath(new URL('../../cli/bin/patternflow.ts', import.meta.url));
const seedYaml = readFileSync(fileURLToPath(new URL('../../policies/routing.yaml', import.meta.url)), 'utf8');
const namespace = uniqueName('pcli').replace('.', '-');
const topics = topicNames(namespace);
const dir = mkdtempSync(join(tmpdir(), 'pf-policy-cli-'));
const logger = createLogger({ service: 'policy-cli-test', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: 'policy-cli-test', logger });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--namespace', namespace, ...args], {
      env: { ...process.env, PF_KAFKA_BROKERS: stack.brokers.join(','), PF_REGISTRY_URL: stack.registryUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const json = (run: Run) => JSON.parse(run.stdout);

/** A policy file: the repository's policy under another version, edited. */
function policyFile(name: string, version: string, edit: (yaml: string) => string = (y) => y): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, edit(seedYaml.replace(/^version: ".*"$/m, `version: "${version}"`)));
  return path;
}

const v1 = policyFile('v1', 'cli-1');
// v2 keeps confident benign free/standard tenants in the hot store instead of the archive.
const v2 = policyFile('v2', 'cli-2', (y) =>
  y.replace(/(- name: benign-low-tier[\s\S]*?lane: )bulk/, '$1standard'),
);
const sameVersion = policyFile('same-version', 'cli-1', (y) =>
  y.replace('score: { lt: 0.7 }', 'score: { lt: 0.6 }'),
);
const newLane = policyFile('new-lane', 'cli-9', (y) =>
  y
    .replace('lanes: [critical, standard, bulk]', 'lanes: [critical, standard, bulk, archive]')
    .replace('  bulk: [postgres, cold]', '  bulk: [postgres, cold]\n  archive: [postgres, cold]'),
);
// Without the eu-residency rule, confident benign EU records of free tenants would reach bulk (cold files).
const regionalBreach = policyFile('regional-breach', 'cli-bad', (y) =>
  y.replace(/ {2}- name: eu-residency[\s\S]*?region: \[eu-west, eu-central\]\n/, ''),
);
const BREACH =
  /rule #5 "benign-low-tier" \(lane bulk\): records of region "eu-west" can reach it, but lane bulk lands in postgres and cold, and regions\.eu-west allows only sinks postgres/;

/** 30 tagged records on the tagged topic, oldest first by timestamp; a dry-run of 20 sees the last 20. */
const tagged: TaggedPattern[] = Array.from({ length: 30 }, (_, i) =>
  taggedPattern({
    id: `dry-${i}`,
    tier: ['free', 'standard', 'business', 'enterprise'][i % 4] as string,
    region: ['us-east', 'eu-west', 'ap-south'][i % 3] as string,
    source: i % 5 === 0 ? 'netflow' : 'payments',
    inference: { label: i % 7 === 0 ? 'fraud' : 'legit', score: i % 6 === 0 ? 0.65 : 0.95 },
  }),
);

let replica: LivePolicy | undefined;

before(async () => {
  await ensureTopics(kafka, [{ topic: topics.tagged, partitions: 3 }]);
  const encoder = await createSchemaCodec({ url: stack.registryUrl }).encoderFor(
    valueSubject(topics.tagged),
    loadSchema('tagged'),
  );
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const base = Date.now() - 60_000;
  await producer.send({
    topic: topics.tagged,
    acks: -1,
    messages: tagged.map((record, i) => ({
      partition: i % 3,
      key: record.id,
      value: encoder.encode(record),
      timestamp: String(base + i * 100),
    })),
  });
  await producer.disconnect();
});

after(async () => {
  await replica?.stop().catch(() => {});
  await deleteNamespace(kafka, namespace);
  await deleteValueSubjects(stack.registryUrl, [topics.tagged]);
  rmSync(dir, { recursive: true, force: true });
});

describe('patternflow policy', { timeout: 120_000 }, () => {
  test('check --offline: a valid file exits 0; a regional breach exits 1 naming rule, region and lane', async () => {
    const ok = await cli('policy', 'check', v1, '--offline');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid routing policy, version cli-1/);
    assert.match(ok.stdout, /regions {2}eu-west → critical, standard; eu-central → critical, standard/);

    const bad = await cli('policy', 'check', regionalBreach, '--offline');
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /invalid routing policy, 4 problems:/);
    assert.match(bad.stdout, BREACH);
    assert.match(
      bad.stdout,
      /rule #6 "benign-netflow" \(lane bulk\): records of region "eu-central" can reach it/,
    );

    const badJson = json(await cli('policy', 'check', regionalBreach, '--offline', '--json'));
    assert.equal(badJson.valid, false);
    assert.ok(badJson.problems.some((p: string) => BREACH.test(p)));
  });

  test('show and history before any policy: nothing in force (exit 1), an empty trail (exit 0)', async () => {
    const shown = await cli('policy', 'show', '--json');
    assert.equal(shown.code, 1);
    assert.equal(json(shown).inForce, null);
    const trail = await cli('policy', 'history', '--json');
    assert.equal(trail.code, 0, trail.stderr);
    assert.deepEqual(json(trail), []);
  });

  test('apply refuses a policy that breaks a regional rule (exit 1) and writes nothing', async () => {
    const refused = await cli('policy', 'apply', regionalBreach, '--reason', 'try');
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, BREACH);
    assert.deepEqual(json(await cli('policy', 'history', '--json')), []);
  });

  test('apply writes the policy in force and its audit entry; show and history report them', async () => {
    const applied = await cli('policy', 'apply', v1, '--reason', 'first policy', '--who', 'alice', '--json');
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(json(applied).applied.version, 'cli-1');
    const shown = json(await cli('policy', 'show', '--json'));
    assert.equal(shown.inForce.version, 'cli-1');
    assert.equal(shown.inForce.applied_by, 'alice');
    assert.equal(shown.inForce.reason, 'first policy');
    assert.equal(shown.inForce.previous_version, null);
    assert.deepEqual(shown.inForce.regions['eu-central'], ['critical', 'standard']);
    const text = await cli('policy', 'show');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /version cli-1 in force/);
    assert.match(text.stdout, /by alice: first policy/);
  });

  test('check against the policy in force: the same policy, the same version or new lanes exit 1; a new version exits 0', async () => {
    const same = await cli('policy', 'check', v1);
    assert.equal(same.code, 1);
    assert.match(same.stdout, /version cli-1 with this exact content is already in force/);
    const lanes = await cli('policy', 'check', newLane, '--json');
    assert.equal(lanes.code, 1);
    assert.match(json(lanes).conflicts.join('\n'), /lane layout differs .*added archive/);
    const next = await cli('policy', 'check', v2, '--json');
    assert.equal(next.code, 0, next.stdout);
    assert.equal(json(next).inForce.version, 'cli-1');
    assert.deepEqual(json(next).conflicts, []);
  });

  test('apply refuses the version in force with other content and a lane change (exit 4)', async () => {
    const bump = await cli('policy', 'apply', sameVersion, '--reason', 'tweak');
    assert.equal(bump.code, 4);
    assert.match(bump.stderr, /version cli-1 is the version in force, with other content: bump version/);
    const lanes = await cli('policy', 'apply', newLane, '--reason', 'archive lane');
    assert.equal(lanes.code, 4);
    assert.match(lanes.stderr, /lane layout differs.*a lane change is a redeploy/);
    assert.equal(json(await cli('policy', 'show', '--json')).inForce.version, 'cli-1');
  });

  test('dry-run replays the most recent tagged records through both policies', async () => {
    const run = await cli('policy', 'dry-run', v2, '--sample', '20', '--json');
    assert.equal(run.code, 0, run.stderr);
    const report = json(run);
    // The expected figures, from the same 20 most recent records routed by the two policies.
    const before = parsePolicy(readFileSync(v1, 'utf8'), 'v1');
    const after = parsePolicy(readFileSync(v2, 'utf8'), 'v2');
    const recent = tagged.slice(10);
    const moved = recent.filter((r) => before.route(r).lane !== after.route(r).lane);
    assert.ok(moved.length > 0, 'the sample exercises a lane change');
    assert.equal(report.sample.routed, 20);
    assert.equal(report.changedLane, moved.length);
    assert.deepEqual(
      report.matrix.find((c: { from: string; to: string }) => c.from === 'bulk' && c.to === 'standard')
        ?.count,
      moved.length,
    );
    const hits = (rule: string) =>
      report.inForceRules.find((r: { rule: string }) => r.rule === rule)?.hits as number;
    assert.equal(
      hits('benign-low-tier'),
      recent.filter((r) => before.route(r).rule === 'benign-low-tier').length,
    );
    assert.ok(report.examples.every((e: { id: string }) => moved.some((r) => r.id === e.id)));
    assert.equal(report.regionForbidden, 0);

    const text = await cli('policy', 'dry-run', v2, '--sample', '20');
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`${moved.length} change lane`));
    assert.match(text.stdout, /rules of cli-2 \(candidate\):/);
  });

  test('apply --wait returns once every running router replica routes by the new version', async () => {
    replica = await startLivePolicy({
      kafka,
      topics,
      groupId: groupIdOf('priority-router', {
        topicNamespace: namespace,
        groupIdIngestor: '',
        groupIdInferenceTagger: '',
        groupIdPriorityRouter: '',
        groupIdSink: '',
      }),
      seedFile: v1,
      logger,
      metrics: createPolicyMetrics(new Registry()),
      replica: 'cli-test-replica',
    });
    assert.equal(replica.current().version, 'cli-1');
    const run = await cli(
      'policy',
      'apply',
      v2,
      '--reason',
      'keep low tiers hot',
      '--who',
      'bob',
      '--wait',
      '--json',
    );
    assert.equal(run.code, 0, run.stderr);
    const result = json(run);
    assert.equal(result.waited, 'in-force');
    assert.deepEqual(
      result.replicas.map((r: { replica: string; status: string; version: string }) => [
        r.replica,
        r.status,
        r.version,
      ]),
      [['cli-test-replica', 'in-force', 'cli-2']],
    );
    assert.equal(replica.current().version, 'cli-2');
    const shown = json(await cli('policy', 'show', '--json'));
    assert.deepEqual(
      shown.replicas.map((r: { replica: string; running: boolean; version: string }) => [
        r.replica,
        r.running,
        r.version,
      ]),
      [['cli-test-replica', true, 'cli-2']],
    );
  });

  test('history lists every change, newest first, with who, when, from, to and why', async () => {
    const trail = json(await cli('policy', 'history', '--json'));
    assert.deepEqual(
      trail.map((e: { action: string; from: string | null; to: string; who: string; reason: string }) => [
        e.action,
        e.from,
        e.to,
        e.who,
        e.reason,
      ]),
      [
        ['policy.apply', 'cli-1', 'cli-2', 'bob', 'keep low tiers hot'],
        ['policy.apply', null, 'cli-1', 'alice', 'first policy'],
      ],
    );
    assert.ok(trail.every((e: { at: string }) => !Number.isNaN(Date.parse(e.at))));
  });

  test('usage errors exit 2: apply without --reason, a file that does not exist', async () => {
    const noReason = await cli('policy', 'apply', v2);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason/);
    const missing = await cli('policy', 'check', join(dir, 'nope.yaml'), '--offline');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml: ENOENT/);
  });
});
