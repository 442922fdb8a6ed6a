/**
 * The control plane on Kafka: the routing policy in force (a compacted topic every router
 * replica follows), the model deployment of each source (a compacted topic every tagger
 * replica follows), the replicas' acknowledgements, and the audit trail of changes.
 */

export {
  applyModelControlRecord,
  type CandidateMode,
  type CandidateRef,
  DEPLOYMENT_KEY_PREFIX,
  decodeModelControlRecord,
  deploymentChange,
  emptyModelControlState,
  type ModelAction,
  type ModelControlRecord,
  type ModelControlState,
  type ModelDeployment,
  type ModelRef,
  type ModelReplicaAck,
  modelAckMessage,
  modelAckRemoval,
  modelControlTopicSpecs,
  modelReplicaGroupPrefix,
  modelSubject,
  readModelControlState,
  refText,
  rollbackTarget,
  type SourceAck,
  sameDeployment,
  sameRef,
  validShare,
} from './models.ts';
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
export { openReplicaWriter } from './replica-writer.ts';
export { groupMembers, liveFollowers, liveReplicas } from './replicas.ts';
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
