/**
 * The sink's failures, mapped once where they happen: a PostgreSQL error by its SQLSTATE
 * class, a socket or file error by Node's error code. The codes' dispositions (libs/errors)
 * then decide: SINK_UNAVAILABLE retries the chunk, SINK_REJECTED dead-letters the record,
 * SINK_FAILED stops the process, SINK_COMMIT_UNKNOWN retries after a reconcile.
 */
import { certificateFailureOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import pg from 'pg';

/** Where a failure happened, for the message and the logs. */
export interface SinkContext {
  operation: string;
  phase: string;
}

/**
 * SQLSTATE classes a retry can outlive: connection exceptions (08), serialization failures
 * and deadlocks (40), insufficient resources (53), operator intervention such as admin
 * shutdown or statement timeout (57), system errors (58); and lock not available (55P03).
 */
const UNAVAILABLE_CLASSES: ReadonlySet<string> = new Set(['08', '40', '53', '57', '58']);
const UNAVAILABLE_STATES: ReadonlySet<string> = new Set(['55P03']);
/** Data exceptions (22) and integrity violations (23): the row itself is bad. */
const REJECTED_CLASSES: ReadonlySet<string> = new Set(['22', '23']);
/** Invalid authorization specification (28): 28P01 a wrong password, 28000 no pg_hba entry for it. */
const AUTH_CLASS = '28';
/**
 * What pg throws when PF_PG_URL asks for TLS and the server answers that it has none: a
 * plain Error without a code, so its message is the only way to know. Never a reason to
 * retry, and never to go on without TLS.
 */
const NO_TLS_ON_SERVER = 'The server does not support SSL connections';

/** Node error codes of a connection that failed, or of a full or flaky disk, which may recover. */
const UNAVAILABLE_NODE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // cold-file writes
  'ENOSPC',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
]);

/**
 * A COMMIT that failed without an answer: the transaction may or may not have committed.
 * The store must not delete the batch's cold files until PostgreSQL has decided it
 * (txid_status of `transactionId`), see reconcile() in cold-storage.ts.
 */
export class SinkCommitUnknownError extends PipelineError {
  override readonly name = 'SinkCommitUnknownError';
  /** txid_current() of the transaction; undefined when even that could not be read. */
  readonly transactionId: string | undefined;

  constructor(transactionId: string | undefined, failure: PipelineError, context: SinkContext) {
    super(
      ErrorCodes.SINK_COMMIT_UNKNOWN,
      `sink ${context.operation}: COMMIT of transaction ${transactionId ?? '(unknown id)'} got no answer, its outcome is unknown: ${failure.message}`,
      { cause: failure, details: { ...failure.details, transactionId } },
    );
    this.transactionId = transactionId;
  }
}

/**
 * A failed call to PostgreSQL (pool.connect, a query). pg reports the server's errors as
 * DatabaseError with a SQLSTATE, socket errors with Node's code, and a connection it lost
 * or could not get ("Connection terminated unexpectedly", "not queryable", a pool connect
 * timeout) as a plain Error without a code: that is unavailable too. (pg's other code-less
 * errors are about misuse or bad credentials' SASL exchange, which the first query at
 * startup already meets.)
 */
export function fromPostgres(err: unknown, context: SinkContext): PipelineError {
  if (err instanceof PipelineError) return err;
  const message = messageOf(err);
  const certificate = certificateFailureOf(err);
  if (certificate !== undefined || message === NO_TLS_ON_SERVER) {
    return new PipelineError(
      ErrorCodes.SINK_TLS,
      certificate === undefined
        ? `PostgreSQL offers no TLS at ${where(context)}, but PF_PG_URL asks for it (sslmode): the sink never falls back to plaintext`
        : `the TLS certificate of PostgreSQL failed verification at ${where(context)} (${certificate}: ${message}): PF_PG_CA_FILE must hold the CA that signed it, and it must name the host in PF_PG_URL`,
      { cause: err, details: { ...context, ...(certificate === undefined ? {} : { certificate }) } },
    );
  }
  if (err instanceof pg.DatabaseError && err.code !== undefined) {
    const sqlstate = err.code;
    const sqlClass = sqlstate.slice(0, 2);
    if (sqlClass === AUTH_CLASS) {
      return new PipelineError(
        ErrorCodes.SINK_AUTH,
        `PostgreSQL refused the credentials of PF_PG_URL at ${where(context)}: ${message} (SQLSTATE ${sqlstate})`,
        { cause: err, details: { ...context, sqlstate } },
      );
    }
    const code = REJECTED_CLASSES.has(sqlClass)
      ? ErrorCodes.SINK_REJECTED
      : UNAVAILABLE_CLASSES.has(sqlClass) || UNAVAILABLE_STATES.has(sqlstate)
        ? ErrorCodes.SINK_UNAVAILABLE
        : ErrorCodes.SINK_FAILED;
    return new PipelineError(
      code,
      `PostgreSQL refused ${where(context)}: ${message} (SQLSTATE ${sqlstate})`,
      {
        cause: err,
        details: { ...context, sqlstate, ...(err.detail === undefined ? {} : { detail: err.detail }) },
      },
    );
  }
  const nodeCode = nodeCodeOf(err);
  if (nodeCode !== undefined && !UNAVAILABLE_NODE_CODES.has(nodeCode)) {
    return new PipelineError(ErrorCodes.SINK_FAILED, `sink ${where(context)} failed: ${message}`, {
      cause: err,
      details: { ...context, nodeCode },
    });
  }
  return new PipelineError(
    ErrorCodes.SINK_UNAVAILABLE,
    `PostgreSQL unavailable at ${where(context)}: ${message}`,
    {
      cause: err,
      details: { ...context, ...(nodeCode === undefined ? {} : { nodeCode }) },
    },
  );
}

/**
 * A failed file-system call on the cold directory: unavailable when the disk may recover
 * (ENOSPC, EIO…), SINK_FAILED when it will not (EACCES, EROFS…). An error without a Node
 * code did not come from the file system: it is returned as it is (unexpected, fatal).
 */
export function fromColdFiles(err: unknown, context: SinkContext): unknown {
  if (err instanceof PipelineError) return err;
  const nodeCode = nodeCodeOf(err);
  if (nodeCode === undefined) return err;
  const code = UNAVAILABLE_NODE_CODES.has(nodeCode) ? ErrorCodes.SINK_UNAVAILABLE : ErrorCodes.SINK_FAILED;
  return new PipelineError(code, `cold files: ${where(context)} failed: ${messageOf(err)}`, {
    cause: err,
    details: { ...context, nodeCode },
  });
}

const where = (context: SinkContext): string => `${context.operation} (${context.phase})`;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function nodeCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
