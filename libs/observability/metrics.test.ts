import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStageMetrics } from './metrics.ts';

test('a stage that never paused exports pf_consumer_paused 0, labelled with its stage', async () => {
  const metrics = createStageMetrics('sink');
  const exposition = await metrics.registry.getSingleMetricAsString('pf_consumer_paused');
  assert.match(exposition, /^pf_consumer_paused\{stage="sink"\} 0$/m);
  metrics.paused.set(1);
  assert.match(
    await metrics.registry.getSingleMetricAsString('pf_consumer_paused'),
    /^pf_consumer_paused\{stage="sink"\} 1$/m,
  );
});
