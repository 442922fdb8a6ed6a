import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '@patternflow/observability';
import pg from 'pg';
import { fromPostgres } from './sink-errors.ts';

/**
 * The sink's connection pool, with its schema created. The routed chunks share one write
 * transaction at a time (handler.ts); beside it run feedback chunks and the one-record
 * writes that isolate a refused record, up to three more, plus one connection for reconcile
 * and the admin queries and one for the periodic feedback query (feedback.ts).
 */
export async function openDatabase(options: {
  /** The connection string and its TLS settings (postgresPoolOptions of libs/service). */
  connection: { connectionString: string; ssl: false | ConnectionOptions };
  schema: string;
  partitionsInFlight: number;
  logger: Logger;
}): Promise<pg.Pool> {
  const pool = new pg.Pool({
    ...options.connection,
    max: Math.min(options.partitionsInFlight, 4) + 2,
    options: `-c search_path=${options.schema}`,
    // pg_stat_activity (and pg_stat_ssl) then tell which sink, and which schema, a connection serves.
    application_name: `patternflow-sink/${options.schema}`,
  });
  pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
  } catch (error) {
    await pool.end().catch(() => {});
    throw fromPostgres(error, { operation: 'start', phase: 'create the schema' });
  }
  return pool;
}

/** A schema name that is safe to interpolate into SQL (it cannot be a bind parameter). */
export const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
