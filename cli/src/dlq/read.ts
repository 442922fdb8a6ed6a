/** Reading the DLQ and the redrive marks, up to their end offsets at the time of the call. */
import type { SchemaCodec } from '@patternflow/registry';
import type { Session } from '../session.ts';
import { endOffsetsNow, type ReadEnd, readTopic } from '../topics/reader.ts';
import { type DlqEntry, toDlqEntry } from './entries.ts';
import { parseMark, type RedriveMark } from './redrive.ts';

export interface DeadLetters {
  entries: DlqEntry[];
  /** 'end' when every partition was read to the end offsets of the start of the call. */
  how: ReadEnd;
}

/** Every dead letter the DLQ holds now (entries written during the read are left out). */
export async function readDeadLetters(session: Session, signal: AbortSignal): Promise<DeadLetters> {
  const topic = session.topics.dlq;
  const end = await endOffsetsNow(session, topic);
  const entries: DlqEntry[] = [];
  const codec = session.codec();
  const how = await readTopic(session, {
    topic,
    purpose: 'dlq',
    start: 'earliest',
    end,
    signal,
    async onRecord(record) {
      entries.push(toDlqEntry(record, session.topics, await sourceFromValue(record.value, codec)));
      return true;
    },
  });
  entries.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition);
  return { entries, how };
}

/** The `source` field of a canonical record (the tagger's, router's and sink's inputs). */
async function sourceFromValue(
  value: Buffer | null,
  codec: Pick<SchemaCodec, 'decodeAsWritten'>,
): Promise<string | undefined> {
  if (value === null || value.length < 5 || value[0] !== 0) return undefined;
  try {
    const source = ((await codec.decodeAsWritten(value)).value as { source?: unknown }).source;
    return typeof source === 'string' ? source : undefined;
  } catch {
    return undefined;
  }
}

/** The redrive marks by DLQ entry id; none when the marks topic does not exist yet. */
export async function readRedriveMarks(
  session: Session,
  signal: AbortSignal,
): Promise<Map<string, RedriveMark>> {
  const topic = session.topics.dlqRedrives;
  const admin = await session.admin();
  const marks = new Map<string, RedriveMark>();
  if (!(await admin.listTopics()).includes(topic)) return marks;
  await readTopic(session, {
    topic,
    purpose: 'dlq-marks',
    start: 'earliest',
    end: await endOffsetsNow(session, topic),
    signal,
    onRecord(record) {
      const mark = parseMark(record.value);
      if (record.key !== null && mark) marks.set(record.key.toString('utf8'), mark);
      return true;
    },
  });
  return marks;
}

/**
 * The marks topic: compacted (one mark per DLQ entry is all that matters), one partition,
 * the broker's default replication. Created by the first redrive.
 */
export async function ensureMarksTopic(session: Session): Promise<void> {
  const topic = session.topics.dlqRedrives;
  const admin = await session.admin();
  if ((await admin.listTopics()).includes(topic)) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
  } catch (error) {
    // Another redrive created it meanwhile.
    const nested = (error as { errors?: { type?: string }[] }).errors ?? [];
    if (!nested.some((e) => e.type === 'TOPIC_ALREADY_EXISTS')) throw error;
  }
}
