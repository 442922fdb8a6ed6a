/**
 * The sink's store: PostgreSQL rows for every lane, plus gzip NDJSON cold files for the
 * cold lanes (default: bulk), committed together. Per batch, inside one PG transaction:
 * insert rows → write the newly inserted cold-lane records to temp files (fsync) → record
 * the files in cold_files → rename them into place (fsync dir) → COMMIT. A final file that
 * cold_files does not list belongs to a transaction that never committed; reconcile()
 * deletes it (and every temp file) so a replay writes those records exactly once.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { RoutedPattern } from '@patternflow/records';
import type pg from 'pg';
import {
  type ColdBatch,
  type ColdFileEntry,
  createPostgresWriter,
  type WriteResult,
} from './postgres-writer.ts';
import { fromColdFiles, fromPostgres, SinkCommitUnknownError } from './sink-errors.ts';

const gzip = promisify(gzipCallback);

export interface SinkStoreOptions {
  pool: pg.Pool;
  /** Root of the cold files: <coldDir>/lane=<lane>/date=<YYYY-MM-DD>/part-….ndjson.gz */
  coldDir: string;
  /** Lanes whose newly stored records also go to cold files (default ['bulk']). */
  coldLanes?: readonly string[];
  /** Patterns table (default "patterns"). */
  table?: string;
  /**
   * Names this sink instance's cold files. reconcile() only touches files of its own
   * instance, so instances sharing a coldDir need distinct, stable ids (default "sink").
   */
  instanceId?: string;
  /** Fault injection for crash tests: runs after the files are renamed into place, before COMMIT. */
  faults?: { afterColdRename?: () => void | Promise<void> };
}

export interface SinkWriteResult extends WriteResult {
  /** Cold files this batch committed, relative to coldDir. */
  coldFiles: string[];
}

export interface ReconcileReport {
  /** Temp files of interrupted batches, deleted. */
  removedTemp: string[];
  /** Final files of batches that never committed, deleted (their records will be replayed). */
  removedUncommitted: string[];
}

export interface SinkStore {
  /** Creates the tables (idempotent). */
  migrate(): Promise<void>;
  /** Deletes this instance's leftovers of uncommitted batches; call at startup before writeBatch. */
  reconcile(): Promise<ReconcileReport>;
  /**
   * Stores one batch; batches run side by side, reconcile alone. Throws what the writer
   * throws (see PostgresWriter.writeBatch), SINK_REJECTED for a payload that cannot go into
   * a cold file, and SINK_UNAVAILABLE / SINK_FAILED for the cold directory.
   */
  writeBatch(records: readonly RoutedPattern[]): Promise<SinkWriteResult>;
}

const INSTANCE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** How long one reconcile waits for a COMMIT of unknown outcome before it is retried. */
const UNDECIDED_COMMIT_WAIT_MS = 30_000;
/** part-<instance>-<epoch ms, 13 digits>-<8 hex>.ndjson.gz; the fixed-width tail makes the instance unambiguous. */
const FINAL_NAME = /^part-([A-Za-z0-9_-]+)-\d{13}-[0-9a-f]{8}\.ndjson\.gz$/;
const TEMP_NAME = /^\.(part-[A-Za-z0-9_-]+-\d{13}-[0-9a-f]{8}\.ndjson\.gz)\.tmp$/;

/** YYYY-MM-DD of an epoch-ms time, in UTC. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Partition directory of a record, relative to coldDir: lane=<lane>/date=<YYYY-MM-DD of event_time, UTC>. */
export function partitionDir(lane: string, eventTimeMs: number): string {
  return `lane=${lane}/date=${utcDay(eventTimeMs)}`;
}

/**
 * gzip-compressed NDJSON: one JSON RoutedPattern per line, each line ending in "\n", with
 * its `payload` as a JSON value (see coldLine).
 */
export async function encodeNdjsonGz(records: readonly RoutedPattern[]): Promise<Buffer> {
  let text = '';
  for (const r of records) text += `${coldLine(r)}\n`;
  return gzip(text);
}

/**
 * One record as one line of JSON whose `payload` is the record's payload as a JSON value,
 * not a string holding JSON. The payload text is checked with JSON.parse and embedded as it
 * is, so numbers keep every digit (as in the jsonb column, where a parse and re-stringify
 * would round integers above 2^53); its line breaks, which valid JSON can only have between
 * tokens, become spaces so that the record stays on one line. A payload that is not valid
 * JSON never reaches a file: the record is SINK_REJECTED (PostgreSQL's jsonb column refuses
 * it first in practice, in the same transaction).
 */
export function coldLine(record: RoutedPattern): string {
  const { payload, ...rest } = record;
  try {
    JSON.parse(payload);
  } catch (error) {
    throw new PipelineError(
      ErrorCodes.SINK_REJECTED,
      `record ${record.id}: its payload is not valid JSON, so it cannot go into a cold file: ${(error as Error).message}`,
      { cause: error, details: { id: record.id } },
    );
  }
  const head = JSON.stringify(rest);
  return `${head.slice(0, -1)},"payload":${payload.replace(LINE_BREAKS, ' ')}}`;
}

const LINE_BREAKS = /[\r\n]/g;

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The cold files of one batch; see ColdBatch for the call order. */
export function createColdBatch(opts: {
  coldDir: string;
  coldLanes: ReadonlySet<string>;
  instanceId: string;
  afterRename?: () => void | Promise<void>;
}): ColdBatch {
  const staged: { temp: string; final: string; dir: string; newDirs: string[] }[] = [];
  const published: string[] = [];

  const coldFailure = (phase: string) => (err: unknown) => {
    throw fromColdFiles(err, { operation: 'cold files', phase });
  };

  return {
    stage: (inserted) => stage(inserted).catch(coldFailure('stage')),
    publish: () => publish().catch(coldFailure('publish')),

    async discard() {
      // Best effort: whatever survives here is an unlisted file that reconcile() removes.
      for (const f of staged) {
        await unlinkIfPresent(f.temp).catch(() => {});
        await unlinkIfPresent(f.final).catch(() => {});
      }
    },
  };

  async function stage(inserted: readonly RoutedPattern[]): Promise<readonly ColdFileEntry[]> {
    const groups = new Map<string, { lane: string; day: string; records: RoutedPattern[] }>();
    for (const r of inserted) {
      if (!opts.coldLanes.has(r.route.lane)) continue;
      const key = partitionDir(r.route.lane, r.event_time);
      let group = groups.get(key);
      if (!group) {
        group = { lane: r.route.lane, day: utcDay(r.event_time), records: [] };
        groups.set(key, group);
      }
      group.records.push(r);
    }
    const entries: ColdFileEntry[] = [];
    const stamp = String(Date.now()).padStart(13, '0');
    for (const [relDir, group] of groups) {
      const dir = join(opts.coldDir, relDir);
      const firstCreated = await mkdir(dir, { recursive: true });
      // Directories created now must reach the disk too: fsync each new one's parent.
      const newDirs: string[] = [];
      if (firstCreated !== undefined) {
        for (let d = dir; d.length >= firstCreated.length; d = dirname(d)) newDirs.push(dirname(d));
      }
      const name = `part-${opts.instanceId}-${stamp}-${randomBytes(4).toString('hex')}.ndjson.gz`;
      const temp = join(dir, `.${name}.tmp`);
      const final = join(dir, name);
      const body = await encodeNdjsonGz(group.records);
      staged.push({ temp, final, dir, newDirs });
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      entries.push({
        path: `${relDir}/${name}`,
        instanceId: opts.instanceId,
        lane: group.lane,
        day: group.day,
        records: group.records.length,
      });
    }
    return entries;
  }

  async function publish(): Promise<void> {
    const dirs = new Set<string>();
    for (const f of staged) {
      await rename(f.temp, f.final);
      published.push(f.final);
      dirs.add(f.dir);
      for (const d of f.newDirs) dirs.add(d);
    }
    for (const d of dirs) await fsyncPath(d);
    await opts.afterRename?.();
  }
}

export function createSinkStore({
  pool,
  coldDir,
  coldLanes = ['bulk'],
  table,
  instanceId = 'sink',
  faults,
}: SinkStoreOptions): SinkStore {
  if (!INSTANCE_PATTERN.test(instanceId)) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `sink instance id "${instanceId}" must match ${INSTANCE_PATTERN}`,
    );
  }
  const writer = createPostgresWriter(table === undefined ? { pool } : { pool, table });
  const lanes = new Set(coldLanes);
  let needsReconcile = false;
  // Transactions whose COMMIT outcome is unknown to us (the connection broke during it).
  const undecided = new Set<string>();
  // Batches run side by side (each has its own transaction and uniquely named files, and
  // the sink hands over one chunk per partition at a time). migrate() and reconcile() run
  // alone: reconcile deletes the files of every batch it does not see committed.
  const gate = createSharedExclusiveGate();

  /**
   * A COMMIT whose answer was lost may still be in progress on the server; until it is
   * decided, its cold_files rows are invisible and its files would look uncommitted.
   */
  async function waitForUndecidedCommits(): Promise<void> {
    const deadline = Date.now() + UNDECIDED_COMMIT_WAIT_MS;
    for (const xid of undecided) {
      for (;;) {
        let status: string | null | undefined;
        try {
          status = (
            await pool.query<{ status: string | null }>('SELECT txid_status($1::bigint) AS status', [xid])
          ).rows[0]?.status;
        } catch (err) {
          throw fromPostgres(err, { operation: 'reconcile', phase: `txid_status(${xid})` });
        }
        if (status !== 'in progress') break;
        if (Date.now() > deadline) {
          throw new PipelineError(
            ErrorCodes.SINK_UNAVAILABLE,
            `transaction ${xid} is still committing; reconcile waits`,
            { details: { operation: 'reconcile', transactionId: xid } },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      undecided.delete(xid);
    }
  }

  async function reconcileNow(): Promise<ReconcileReport> {
    await waitForUndecidedCommits();
    const report: ReconcileReport = { removedTemp: [], removedUncommitted: [] };
    const finals: string[] = [];
    for (const laneDir of await readdirIfPresent(coldDir)) {
      if (!laneDir.startsWith('lane=')) continue;
      for (const dateDir of await readdirIfPresent(join(coldDir, laneDir))) {
        if (!dateDir.startsWith('date=')) continue;
        const rel = `${laneDir}/${dateDir}`;
        for (const name of await readdirIfPresent(join(coldDir, rel))) {
          const temp = TEMP_NAME.exec(name);
          if (temp && FINAL_NAME.exec(temp[1] as string)?.[1] === instanceId) {
            await unlinkIfPresent(join(coldDir, rel, name));
            report.removedTemp.push(`${rel}/${name}`);
          } else if (FINAL_NAME.exec(name)?.[1] === instanceId) {
            finals.push(`${rel}/${name}`);
          }
        }
      }
    }
    if (finals.length > 0) {
      let committed: Set<string>;
      try {
        const res = await pool.query<{ path: string }>(
          'SELECT path FROM cold_files WHERE path = ANY($1::text[])',
          [finals],
        );
        committed = new Set(res.rows.map((r) => r.path));
      } catch (err) {
        throw fromPostgres(err, { operation: 'reconcile', phase: 'read cold_files' });
      }
      const dirs = new Set<string>();
      for (const rel of finals) {
        if (committed.has(rel)) continue;
        await unlinkIfPresent(join(coldDir, rel));
        report.removedUncommitted.push(rel);
        dirs.add(dirname(join(coldDir, rel)));
      }
      for (const d of dirs) await fsyncPath(d);
    }
    needsReconcile = false;
    return report;
  }

  return {
    migrate: () => gate.exclusive(() => writer.migrate()),
    reconcile: () => gate.exclusive(reconcileNow),
    writeBatch: async (records) => {
      // After a COMMIT of unknown outcome, its files may or may not be listed: settle that first.
      if (needsReconcile) await gate.exclusive(async () => needsReconcile && reconcileNow());
      return gate.shared(async () => {
        const cold = createColdBatch({
          coldDir,
          coldLanes: lanes,
          instanceId,
          ...(faults?.afterColdRename ? { afterRename: faults.afterColdRename } : {}),
        });
        let coldFiles: string[] = [];
        const tracking: ColdBatch = {
          stage: async (inserted) => {
            const entries = await cold.stage(inserted);
            coldFiles = entries.map((e) => e.path);
            return entries;
          },
          publish: () => cold.publish(),
          discard: () => cold.discard(),
        };
        try {
          const result = await writer.writeBatch(records, tracking);
          return { ...result, coldFiles };
        } catch (err) {
          if (err instanceof SinkCommitUnknownError) {
            needsReconcile = true;
            if (err.transactionId !== undefined) undecided.add(err.transactionId);
          }
          throw err;
        }
      });
    },
  };
}

/** Many shared holders at once, or one exclusive holder; an exclusive request waits for the shared ones before it. */
export function createSharedExclusiveGate() {
  let exclusiveTail: Promise<unknown> = Promise.resolve();
  const sharedInFlight = new Set<Promise<unknown>>();
  return {
    shared<T>(op: () => Promise<T>): Promise<T> {
      const run = exclusiveTail.then(op, op);
      const settled = run.catch(() => {});
      sharedInFlight.add(settled);
      settled.then(() => sharedInFlight.delete(settled));
      return run;
    },
    exclusive<T>(op: () => Promise<T>): Promise<T> {
      const before = [exclusiveTail, ...sharedInFlight];
      const run = Promise.allSettled(before).then(op);
      exclusiveTail = run.catch(() => {});
      return run;
    },
  };
}

async function readdirIfPresent(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
