import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkRendered } from './helm-env-check.ts';

const POLICY = readFileSync(new URL('../policies/routing.yaml', import.meta.url), 'utf8');

/** The priority-router as the chart renders it, reduced to what the check reads. */
function routerRender(
  overrides: { env?: Record<string, string>; grace?: number; group?: string; topic?: string } = {},
) {
  const labels = { 'app.kubernetes.io/component': 'priority-router' };
  const env = {
    PF_HTTP_HOST: '0.0.0.0',
    PF_HTTP_PORT: '9466',
    PF_KAFKA_BROKERS: 'kafka:9092',
    PF_TOPIC_PARTITIONS: '3',
    PF_POLICY_FILE: '/etc/patternflow/policy/routing.yaml',
    ...overrides.env,
  };
  const probe = (path: string) => ({ httpGet: { path, port: 'http' } });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'pf-router-policy' },
      data: { 'routing.yaml': POLICY },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'pf-router', labels },
      spec: {
        template: {
          // Two input topics (patterns.tagged.priority and patterns.tagged) of 3 partitions.
          metadata: { annotations: { 'patternflow.io/input-partitions': '6' } },
          spec: {
            terminationGracePeriodSeconds: overrides.grace ?? 45,
            containers: [
              {
                name: 'priority-router',
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                ports: [{ name: 'http', containerPort: 9466 }],
                livenessProbe: probe('/healthz'),
                readinessProbe: probe('/readyz'),
                volumeMounts: [{ name: 'policy', mountPath: '/etc/patternflow/policy' }],
              },
            ],
            volumes: [{ name: 'policy', configMap: { name: 'pf-router-policy' } }],
          },
        },
      },
    },
    {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'pf-router', labels },
      spec: {
        scaleTargetRef: { kind: 'Deployment', name: 'pf-router' },
        maxReplicaCount: 3,
        triggers: [
          {
            type: 'kafka',
            metadata: {
              bootstrapServers: 'kafka:9092',
              consumerGroup: overrides.group ?? 'patternflow.priority-router',
              ...(overrides.topic === undefined ? {} : { topic: overrides.topic }),
            },
          },
        ],
      },
    },
  ];
}

test('a render that matches the service passes, the policy read from the ConfigMap', async () => {
  assert.deepEqual(await checkRendered(routerRender()), []);
});

test('KEDA measuring another group or topic than the stage consumes is reported', async () => {
  const problems = await checkRendered(
    routerRender({ group: 'patternflow.router', topic: 'patterns.normalized' }),
  );
  assert.deepEqual(problems, [
    'ScaledObject pf-router: measures group patternflow.router, but the priority-router consumes as patternflow.priority-router',
    'ScaledObject pf-router: topic is patterns.normalized, expected (all of the group): the priority-router reads several topics',
  ]);
});

test('a namespace moves the group the trigger must name', async () => {
  const problems = await checkRendered(routerRender({ env: { PF_TOPIC_NAMESPACE: 'staging' } }));
  assert.deepEqual(problems, [
    'ScaledObject pf-router: measures group patternflow.priority-router, but the priority-router consumes as staging.patternflow.priority-router',
  ]);
});

test('a trigger that names one topic of the router (the rest unmeasured) is reported', async () => {
  const problems = await checkRendered(routerRender({ topic: 'patterns.tagged' }));
  assert.deepEqual(problems, [
    'ScaledObject pf-router: topic is patterns.tagged, expected (all of the group): the priority-router reads several topics',
  ]);
});

test('the router reads two topics: an annotation counting one is reported', async () => {
  const render = routerRender();
  const workload = render[1] as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
  workload.spec.template.metadata.annotations['patternflow.io/input-partitions'] = '3';
  const problems = await checkRendered(render);
  assert.deepEqual(problems, [
    'Deployment pf-router: annotation patternflow.io/input-partitions is 3, but the priority-router reads 2 topic(s) of PF_TOPIC_PARTITIONS=3 partitions',
  ]);
});

test("a variable the service refuses is reported with the service's own message", async () => {
  const problems = await checkRendered(routerRender({ env: { PF_MAX_BATCH_RECORDS: '8.388608e+06' } }));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /the priority-router service refuses its environment: .*PF_MAX_BATCH_RECORDS/);
});

test('probes the kubelet cannot reach and a grace period shorter than the drain are reported', async () => {
  const problems = await checkRendered(
    routerRender({ env: { PF_HTTP_HOST: '127.0.0.1', PF_SESSION_TIMEOUT_MS: '60000' }, grace: 45 }),
  );
  assert.deepEqual(problems, [
    "Deployment pf-router: PF_HTTP_HOST is 127.0.0.1: the kubelet's probes could not reach it",
    "Deployment pf-router: terminationGracePeriodSeconds 45 does not outlast the stage's drain deadline of 70 s",
  ]);
});
