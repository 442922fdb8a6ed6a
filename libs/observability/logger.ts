import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs (pino) with the service name on every line; credentials redacted. */
export function createLogger(options: {
  service: string;
  level?: string;
  /** Default: standard output. The CLI logs to standard error, keeping standard output for results. */
  destination?: pino.DestinationStream;
}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['config.pgUrl', '*.password', 'password'], censor: '***' },
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
