import { isRecordError } from '@patternflow/errors';
import type { OutboundMessage, StageHandler } from '@patternflow/kafka';
import { nextTraceparent, TRACEPARENT } from '@patternflow/observability';
import type { Route, TaggedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder, SchemaExtender } from '@patternflow/registry';
import { decodeRecords } from '@patternflow/service';

export interface LaneOutput {
  topic: string;
  /** Appends the route to a tagged record's bytes (the common case). */
  extender: SchemaExtender;
  /** Encodes a whole routed record, for input written with another tagged schema version. */
  encoder: SchemaEncoder;
}

/**
 * Tagged records → patterns.routed.<lane>, each with the policy's decision recorded in
 * it. The routed schema is the tagged schema plus `route`, so the output is the input's
 * bytes plus the encoded decision; only the routing fields are decoded.
 */
export function createRouteHandler(deps: {
  /** Reads the routing fields only (routingViewSchema). */
  decoder: SchemaDecoder;
  /** Reads the whole tagged record, for the re-encoding fallback. */
  fullDecoder: SchemaDecoder;
  /** One output per lane: each lane topic has its own subject. */
  lanes: ReadonlyMap<string, LaneOutput>;
  decide: (record: TaggedPattern) => Route;
}): StageHandler {
  return async (records) => {
    const { decoded, deadLetters } = await decodeRecords<TaggedPattern>(records, deps.decoder);
    const messages: OutboundMessage[] = [];
    for (const { record, value } of decoded) {
      const route = deps.decide(value);
      // The policy was validated against these lanes at startup, so a lane is always known.
      const lane = deps.lanes.get(route.lane)!;
      let framed = lane.extender.extend(record.value!, { route });
      if (framed === undefined) {
        try {
          const full = (await deps.fullDecoder.decode(record.value!)).value as TaggedPattern;
          framed = lane.encoder.encode({ ...full, route });
        } catch (error) {
          // Readable for routing but not as a whole record: this record alone is bad.
          if (!isRecordError(error)) throw error;
          deadLetters.push({ record, error });
          continue;
        }
      }
      messages.push({
        topic: lane.topic,
        key: value.id,
        value: framed,
        headers: { [TRACEPARENT]: nextTraceparent(record.headers[TRACEPARENT]), 'pf-lane': route.lane },
      });
    }
    return { messages, deadLetters };
  };
}
