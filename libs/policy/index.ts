/** Routing policy as code: load a versioned YAML policy and route tagged records by it. */
export type { Policy, RouteDecision } from './policy.ts';
export { loadPolicy, parsePolicy } from './policy.ts';
