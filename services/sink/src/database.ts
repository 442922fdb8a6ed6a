import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '@patternflow/observability';
import pg from 'pg';
import { fromPostgres } from './sink-errors.ts';

/**
 * The sink's connection pool, with its schema created. One connection per partition in
 * flight (batches of different partitions write concurrently), plus one for reconcile and
 * the admin queries, plus one for the periodic feedback query (feedback.ts), so it never
 * makes a batch wait for a connection.
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
    max: options.partitionsInFlight + 2,
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
