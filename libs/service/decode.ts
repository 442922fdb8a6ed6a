import { ErrorCodes, PipelineError, recordFailure } from '@patternflow/errors';
import type { DeadLetter, InboundRecord } from '@patternflow/kafka';
import type { SchemaDecoder } from '@patternflow/registry';

export interface Decoded<T> {
  record: InboundRecord;
  value: T;
}

/**
 * Decodes a chunk of Confluent-framed Avro records. A record that cannot be decoded is
 * dead-lettered with the codec's reason (or RECORD_UNEXPECTED when the decoder trips over
 * it); a registry outage fails the chunk (retried).
 */
export async function decodeRecords<T>(
  records: readonly InboundRecord[],
  decoder: SchemaDecoder,
): Promise<{ decoded: Decoded<T>[]; deadLetters: DeadLetter[] }> {
  const decoded: Decoded<T>[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const record of records) {
    try {
      if (record.value === null) throw emptyValue(record);
      const { value } = await decoder.decode(record.value);
      decoded.push({ record, value: value as T });
    } catch (error) {
      const failure = recordFailure(error);
      if (failure === undefined) throw error;
      deadLetters.push({ record, error: failure });
    }
  }
  return { decoded, deadLetters };
}

function emptyValue(record: InboundRecord): PipelineError {
  return new PipelineError(
    ErrorCodes.VALUE_EMPTY,
    `record ${record.topic}/${record.partition}@${record.offset} has a null value`,
  );
}
