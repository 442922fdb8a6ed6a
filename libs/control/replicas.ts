/** Which router replicas run, as seen from Kafka: each follows the control topic with a group of its own. */
import { type Admin, kafkaFailure } from '@patternflow/kafka';
import { replicaGroupPrefix } from './state.ts';

const mapped = async <T>(work: Promise<T>): Promise<T> => {
  try {
    return await work;
  } catch (error) {
    throw kafkaFailure(error) ?? error;
  }
};

/** Groups with members: a group whose member died stays Stable until its session times out (10 s). */
async function groupsWithMembers(admin: Admin, groupIds: readonly string[]): Promise<Map<string, number>> {
  if (groupIds.length === 0) return new Map();
  const { groups } = await mapped(admin.describeGroups([...groupIds]));
  return new Map(
    groups
      .filter((g) => g.members.length > 0 && g.state !== 'Empty' && g.state !== 'Dead')
      .map((g) => [g.groupId, g.members.length]),
  );
}

/** The ids of the router replicas that follow the control topic now, sorted. */
export function liveReplicas(admin: Admin, routerGroupId: string): Promise<string[]> {
  return liveFollowers(admin, replicaGroupPrefix(routerGroupId));
}

/** The replica ids of the follower groups named `<prefix><replica>` that have live members, sorted. */
export async function liveFollowers(admin: Admin, prefix: string): Promise<string[]> {
  const { groups } = await mapped(admin.listGroups());
  const followers = groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix));
  const live = await groupsWithMembers(admin, followers);
  return [...live.keys()].map((id) => id.slice(prefix.length)).sort();
}

/** Members of a consumer group right now (0 when it does not exist). */
export async function groupMembers(admin: Admin, groupId: string): Promise<number> {
  return (await groupsWithMembers(admin, [groupId])).get(groupId) ?? 0;
}
