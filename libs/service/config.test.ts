import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '@patternflow/config';
import {
  groupIdOf,
  groupIdVariable,
  stageConfigChecks,
  stageConfigSpec,
  stageRunnerSettings,
} from './config.ts';

const load = (
  env: Record<string, string>,
  stage: Parameters<typeof stageConfigSpec>[0] = 'priority-router',
) => loadConfig(stageConfigSpec(stage), env, [stageConfigChecks]);

describe('stage configuration', () => {
  test('every stage reads the registry URL from the one shared field', () => {
    for (const stage of ['ingestor', 'inference-tagger', 'priority-router', 'sink'] as const) {
      const config = load({ PF_REGISTRY_URL: 'https://registry.example:8081/apis/ccompat/v7' }, stage);
      assert.equal(config.registryUrl, 'https://registry.example:8081/apis/ccompat/v7');
    }
    assert.throws(() => load({ PF_REGISTRY_URL: 'ftp://x' }), /PF_REGISTRY_URL must be a http or https URL/);
  });

  test('group ids follow the namespace unless PF_GROUP_ID_<STAGE> overrides one', () => {
    const config = load({ PF_TOPIC_NAMESPACE: 'blue', PF_GROUP_ID_SINK: 'sink-v2' });
    assert.equal(groupIdOf('priority-router', config), 'blue.patternflow.priority-router');
    assert.equal(groupIdOf('sink', config), 'sink-v2');
    assert.equal(groupIdOf('ingestor', load({})), 'patternflow.ingestor');
    assert.equal(groupIdVariable('inference-tagger'), 'PF_GROUP_ID_INFERENCE_TAGGER');
  });

  test('PF_COMPRESSION takes every Kafka codec, reaches the runner, and refuses anything else', () => {
    for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const config = load({ PF_COMPRESSION: codec });
      assert.equal(config.compression, codec);
      assert.equal(stageRunnerSettings('ingestor', config).compression, codec);
    }
    assert.equal(load({}).compression, 'lz4');
    assert.throws(
      () => load({ PF_COMPRESSION: 'brotli' }),
      /PF_COMPRESSION must be one of none, gzip, snappy, lz4, zstd/,
    );
  });

  test('PF_GROUP_ID is refused with a message naming its replacements', () => {
    assert.throws(
      () => load({ PF_GROUP_ID: 'mine' }),
      (error: Error) =>
        /PF_GROUP_ID is no longer read/.test(error.message) && /PF_GROUP_ID_SINK/.test(error.message),
    );
  });

  // Regression: a stage that overrode PF_GROUP_ID was invisible to the upstream stage's
  // backlog check, which measured a group that did not exist (from the low watermark) and
  // could stay paused for good.
  test('a stage that overrides its consumer group is still the group its upstream backlog check watches', () => {
    const env = { PF_GROUP_ID_SINK: 'sink-v2', PF_GROUP_ID_PRIORITY_ROUTER: 'router-v2' };
    const router = stageRunnerSettings('priority-router', load(env, 'priority-router'), {
      stage: 'sink',
      topics: ['patterns.routed.bulk'],
    });
    const sink = stageRunnerSettings('sink', load(env, 'sink'));
    assert.equal(router.groupId, 'router-v2');
    assert.equal(sink.groupId, 'sink-v2');
    assert.equal(router.backlog?.downstreamGroupId, sink.groupId);
    assert.deepEqual(router.backlog?.downstreamTopics, ['patterns.routed.bulk']);
  });

  test('the backlog pause is off without a downstream stage or with PF_PAUSE_WHEN_BACKLOG_ABOVE=0', () => {
    assert.equal(stageRunnerSettings('sink', load({})).backlog, undefined);
    const off = load({ PF_PAUSE_WHEN_BACKLOG_ABOVE: '0' });
    assert.equal(
      stageRunnerSettings('priority-router', off, { stage: 'sink', topics: ['t'] }).backlog,
      undefined,
    );
    const on = stageRunnerSettings('priority-router', load({}), { stage: 'sink', topics: ['t'] });
    assert.deepEqual(on.backlog, {
      downstreamGroupId: 'patternflow.sink',
      downstreamTopics: ['t'],
      pauseWhenBacklogAbove: 50_000,
      resumeWhenBacklogBelow: 25_000,
      checkIntervalMs: 1_000,
    });
  });

  test('resume threshold must be below the pause threshold', () => {
    assert.throws(
      () => load({ PF_PAUSE_WHEN_BACKLOG_ABOVE: '100', PF_RESUME_WHEN_BACKLOG_BELOW: '100' }),
      /PF_RESUME_WHEN_BACKLOG_BELOW \(100\) must be below PF_PAUSE_WHEN_BACKLOG_ABOVE \(100\)/,
    );
  });
});
