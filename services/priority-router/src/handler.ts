import type { OutboundMessage, StageHandler } from '@patternflow/kafka';
import { nextTraceparent, TRACEPARENT } from '@patternflow/observability';
import type { RoutedPattern, TaggedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder } from '@patternflow/registry';
import { decodeRecords } from '@patternflow/service';

/** Tagged records → patterns.routed.<lane>, each with the policy's decision recorded in it. */
export function createRouteHandler(deps: {
  decoder: SchemaDecoder;
  /** One encoder per lane: each lane topic has its own subject. */
  encoders: ReadonlyMap<string, { topic: string; encoder: SchemaEncoder }>;
  route: (record: TaggedPattern) => RoutedPattern;
}): StageHandler {
  return async (records) => {
    const { decoded, deadLetters } = await decodeRecords<TaggedPattern>(records, deps.decoder);
    const messages: OutboundMessage[] = [];
    for (const { record, value } of decoded) {
      const routed = deps.route(value);
      // The policy was validated against these lanes at startup, so a lane is always known.
      const lane = deps.encoders.get(routed.route.lane)!;
      messages.push({
        topic: lane.topic,
        key: routed.id,
        value: lane.encoder.encode(routed),
        headers: {
          [TRACEPARENT]: nextTraceparent(record.headers[TRACEPARENT]),
          'pf-lane': routed.route.lane,
        },
      });
    }
    return { messages, deadLetters };
  };
}
