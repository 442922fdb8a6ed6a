/**
 * The control plane on Kafka: the routing policy in force (a compacted topic every router
 * replica follows), the replicas' acknowledgements, and the audit trail of changes.
 */
export {
  ACK_KEY_PREFIX,
  type AuditEntry,
  type ControlRecord,
  decodeAuditEntry,
  decodeControlRecord,
  POLICY_KEY,
  POLICY_SUBJECT,
  type PolicyRecord,
  type ReplicaAck,
  sha256Of,
} from './records.ts';
export { groupMembers, liveReplicas } from './replicas.ts';
export {
  ackMessage,
  ackRemoval,
  applyControlRecord,
  type ControlState,
  emptyControlState,
  type PolicyInForce,
  policyChange,
  policyOfRecord,
  readAuditTrail,
  readControlState,
  readPolicyInForce,
  replicaGroupPrefix,
} from './state.ts';
export { controlTopicSpecs } from './topics.ts';
