export { type LoadOptions, type LoadResult, produceGeneratedEvents } from './load.ts';
export { metricSum, SERVICE_NAMES, type ServiceFleet, type ServiceName, startServices } from './services.ts';
