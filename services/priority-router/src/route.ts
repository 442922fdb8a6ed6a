/**
 * The priority-router's logic: the policy's decision for a tagged record. Pure and
 * synchronous; the handler appends it to the record and publishes to patterns.routed.<lane>.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { Policy } from '@patternflow/policy';
import type { Route, TaggedPattern } from '@patternflow/records';

export interface RouterDeps {
  policy: Policy;
  /** Clock for route.routed_at (epoch ms); injectable for tests. */
  now?: () => number;
}

export type RouteDecider = (record: TaggedPattern) => Route;

/**
 * The policy's decision alone: lane, matching rule, policy version and routing time. A
 * decision that would send a record of a restricted region to a lane its region forbids
 * throws PF_REGION_FORBIDDEN (dead-lettered): the validator proves that cannot happen, this
 * is the net under the proof.
 */
export function createRouteDecider({ policy, now = Date.now }: RouterDeps): RouteDecider {
  const policyVersion = policy.version;
  const restricted = policy.regions.size > 0;
  return (record) => {
    const { lane, rule } = policy.route(record);
    if (restricted && !policy.permits(record.region, lane)) {
      throw new PipelineError(
        ErrorCodes.REGION_FORBIDDEN,
        `policy ${policyVersion} rule "${rule}" routes record ${record.id} of region "${record.region}" to lane ${lane}, which regions.${record.region} forbids`,
        { details: { region: record.region, lane, rule, policyVersion } },
      );
    }
    return { lane, rule, policy_version: policyVersion, routed_at: now() };
  };
}

/** The fields the policy language can test (docs/routing.md), plus the id for the key. */
export const ROUTING_FIELDS: readonly string[] = [
  'id',
  'source',
  'kind',
  'tenant',
  'tier',
  'region',
  'inference',
];

/**
 * A reader schema with only the routing fields of the tagged schema: decoding with it
 * skips the attributes and the payload instead of building them.
 */
export function routingViewSchema(taggedSchema: Record<string, unknown>): Record<string, unknown> {
  const fields = taggedSchema.fields as { name: string }[];
  return { ...taggedSchema, fields: fields.filter((field) => ROUTING_FIELDS.includes(field.name)) };
}
