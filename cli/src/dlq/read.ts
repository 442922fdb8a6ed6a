/** Reading the DLQ and the redrive marks, up to their end offsets at the time of the call. */
import { ensureTopics } from '@patternflow/kafka';
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
 * The marks topic: compacted (one mark per DLQ entry is all that matters), one partition.
 * Created by the first redrive.
 */
export async function ensureMarksTopic(session: Session): Promise<void> {
  await ensureTopics(session.kafka(), [
    { topic: session.topics.dlqRedrives, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ]);
}
