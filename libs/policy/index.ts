/** Routing policy as code: load a versioned YAML policy and route tagged records by it. */
export { coldLanesOf, layoutChange } from './layout.ts';
export type { ExpediteEntry, Policy, PolicyFields, RouteDecision } from './policy.ts';
export { loadPolicy, parsePolicy } from './policy.ts';
export { type RegionRestriction, SINKS, type Sink } from './regions.ts';
