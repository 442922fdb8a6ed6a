import { recordFailure } from '@patternflow/errors';
import type { OutboundMessage, StageHandler } from '@patternflow/kafka';
import { nextTraceparent, TRACEPARENT } from '@patternflow/observability';
import type { TaggedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder, SchemaExtender } from '@patternflow/registry';
import { decodeRecords } from '@patternflow/service';
import type { RouteDecider } from './route.ts';

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
 * bytes plus the encoded decision; only the routing fields are decoded. Whatever throws
 * while one record is decided or framed dead-letters that record alone. The decider is
 * taken once per batch, so a policy swapped meanwhile applies from the next batch on.
 */
export function createRouteHandler(deps: {
  /** Reads the routing fields only (routingViewSchema). */
  decoder: SchemaDecoder;
  /** Reads the whole tagged record, for the re-encoding fallback. */
  fullDecoder: SchemaDecoder;
  /** One output per lane: each lane topic has its own subject. */
  lanes: ReadonlyMap<string, LaneOutput>;
  /** The decider of the policy in force, asked once per batch. */
  decider: () => RouteDecider;
}): StageHandler {
  return async (records) => {
    const decide = deps.decider();
    const { decoded, deadLetters } = await decodeRecords<TaggedPattern>(records, deps.decoder);
    const messages: OutboundMessage[] = [];
    for (const { record, value } of decoded) {
      try {
        const route = decide(value);
        // Every policy taken up has the lanes these outputs were built for, so a lane is always known.
        const lane = deps.lanes.get(route.lane)!;
        const framed =
          lane.extender.extend(record.value!, { route }) ??
          // Another schema version: decode the whole record (readable for routing does not
          // mean readable as a whole: then this record alone is bad).
          lane.encoder.encode({
            ...((await deps.fullDecoder.decode(record.value!)).value as TaggedPattern),
            route,
          });
        messages.push({
          topic: lane.topic,
          key: value.id,
          value: framed,
          headers: { [TRACEPARENT]: nextTraceparent(record.headers[TRACEPARENT]), 'pf-lane': route.lane },
        });
      } catch (error) {
        const failure = recordFailure(error);
        if (failure === undefined) throw error;
        deadLetters.push({ record, error: failure });
      }
    }
    return { messages, deadLetters };
  };
}
