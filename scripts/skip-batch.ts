/**
 * Skips a range of offsets a stage cannot read (the stage logs the exact command and exports
 * pf_unreadable_batch{topic,partition,from,to}). The skip is recorded on
 * `[<namespace>.]patterns.skipped` (who, when, why, what) before the group's offset moves;
 * the stage notices within seconds and resumes.
 *
 *   node scripts/skip-batch.ts --group patternflow.ingestor --topic patterns.ingest.payments \
 *     --partition 2 --from 1200 --to 1250 --reason "corrupt batch from vendor X" [--by alice]
 *
 * Exit codes: 0 skipped, 2 bad arguments, 1 refused or failed (message on stderr).
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, string } from '@patternflow/config';
import { createKafka, ensureTopics, skipUnreadableRange } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { linksFromEnv } from '@patternflow/service';

const usage = 'usage: skip-batch.ts --group G --topic T --partition P --from F --to T --reason R [--by NAME]';
let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      group: { type: 'string' },
      topic: { type: 'string' },
      partition: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      reason: { type: 'string' },
      by: { type: 'string' },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const missing = ['group', 'topic', 'partition', 'from', 'to', 'reason'].filter(
  (k) => !args[k as keyof typeof args],
);
const numeric = ['partition', 'from', 'to'].filter((k) => !/^\d+$/.test(args[k as keyof typeof args] ?? ''));
if (missing.length > 0 || numeric.length > 0) {
  console.error(
    `${missing.length > 0 ? `missing --${missing.join(', --')}. ` : ''}${numeric.length > 0 ? `--${numeric.join(', --')} must be whole numbers. ` : ''}\n${usage}`,
  );
  process.exit(2);
}

// The brokers and their TLS/SASL settings as the stages read them (PF_KAFKA_*).
let links: ReturnType<typeof linksFromEnv>;
let config: { namespace: string };
try {
  links = linksFromEnv();
  config = loadConfig({ namespace: string('PF_TOPIC_NAMESPACE', '') });
} catch (error) {
  console.error(`skip-batch: ${(error as Error).message}`);
  process.exit(2);
}
const logger = createLogger({ service: 'skip-batch', level: 'error', secrets: links.secrets });
const kafka = createKafka({ ...links.kafka, clientId: 'patternflow-skip-batch', logger });
const auditTopic = topicNames(config.namespace).skipped;
try {
  await ensureTopics(kafka, [{ topic: auditTopic, partitions: 1 }]);
  const record = await skipUnreadableRange({
    kafka,
    groupId: args.group!,
    range: { topic: args.topic!, partition: Number(args.partition), from: args.from!, to: args.to! },
    reason: args.reason!,
    by: args.by ?? userInfo().username,
    auditTopic,
  });
  console.log(JSON.stringify(record));
} catch (error) {
  console.error(`skip-batch: ${(error as Error).message}`);
  process.exit(1);
}
