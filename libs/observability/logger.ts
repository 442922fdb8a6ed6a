import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Fields that hold credentials wherever a caller puts them: replaced before the line is built. */
const REDACT_PATHS = [
  'config.pgUrl',
  'password',
  '*.password',
  '*.*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

const CENSOR = '***';

/** user:password@ in any URL (a PostgreSQL URL in a library's message, say). */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"']+:)[^\s/@"']+@/gi;

/**
 * Removes every form of `secrets` a log line can hold (as written, escaped inside a JSON
 * string, percent-encoded in a URL) and the password of any URL with credentials. The last
 * line of defence: it also catches what a library put where no redact path looks (an error's
 * cause's request, a message).
 */
export function createScrubber(secrets: readonly string[]): (line: string) => string {
  const forms = [
    ...new Set(
      secrets
        .filter((secret) => secret !== '')
        .flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]),
    ),
  ].sort((a, b) => b.length - a.length);
  return (line) => {
    let clean = line.replace(URL_CREDENTIALS, `$1${CENSOR}@`);
    for (const form of forms) if (clean.includes(form)) clean = clean.replaceAll(form, CENSOR);
    return clean;
  };
}

/**
 * Structured JSON logs (pino) with the service name on every line. Credentials never reach
 * the output: known fields are redacted, and every finished line is scrubbed of `secrets`
 * (the configuration's passwords and tokens, see configSecrets) and of URL passwords.
 */
export function createLogger(options: {
  service: string;
  level?: string;
  secrets?: readonly string[];
  /** Default: standard output. The CLI logs to standard error, keeping standard output for results. */
  destination?: pino.DestinationStream;
}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    formatters: { level: (label) => ({ level: label }) },
    hooks: { streamWrite: createScrubber(options.secrets ?? []) },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
