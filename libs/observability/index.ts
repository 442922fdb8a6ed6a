export { type Health, startHttpServer } from './http.ts';
export { createLogger, type Logger } from './logger.ts';
export { createStageMetrics, Registry, type StageMetrics } from './metrics.ts';
export { nextTraceparent, parseTraceparent, TRACEPARENT, type TraceContext, traceIdOf } from './trace.ts';
