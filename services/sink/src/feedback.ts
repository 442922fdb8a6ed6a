/**
 * Ground truth feedback (patterns.feedback): downstream teams publish JSON
 * {id, label, source?, at?} when they learn the truth about a record. The sink, which owns
 * PostgreSQL, upserts it into pattern_feedback; the view pattern_feedback_joined pairs it
 * with the stored prediction (sql/004_feedback.sql), and a periodic query turns the
 * latest pairs into precision, recall and F1 per model version and class.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { DeadLetter, InboundRecord, StageHandler } from '@patternflow/kafka';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { fromPostgres } from './sink-errors.ts';

export interface Feedback {
  id: string;
  label: string;
  source: string | null;
  /** When the sender learnt the truth (epoch millis), if it said. */
  at: number | null;
}

const MAX_FEEDBACK_BYTES = 4096;
const MAX_ID_LENGTH = 256;
const MAX_LABEL_LENGTH = 64;
const LABEL = /^[A-Za-z0-9_.-]+$/;
const FIELDS: ReadonlySet<string> = new Set(['id', 'label', 'source', 'at']);
/** `at` as epoch millis must be plausible: 2000-01-01 … 2100-01-01. */
const EARLIEST_AT = Date.UTC(2000, 0, 1);
const LATEST_AT = Date.UTC(2100, 0, 1);

const invalid = (message: string, details: Record<string, unknown> = {}) =>
  new PipelineError(ErrorCodes.FEEDBACK_INVALID, `feedback ${message}`, { details });

/** One feedback message, strictly: anything else is PF_FEEDBACK_INVALID naming the problem. */
export function parseFeedback(value: Buffer | null): Feedback {
  if (value === null || value.length === 0) throw invalid('is empty');
  if (value.length > MAX_FEEDBACK_BYTES)
    throw invalid(`is ${value.length} bytes, more than ${MAX_FEEDBACK_BYTES}`, { bytes: value.length });
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw invalid(`is not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw invalid('must be a JSON object {id, label, source?, at?}');
  const object = parsed as Record<string, unknown>;
  const unknown = Object.keys(object).filter((key) => !FIELDS.has(key));
  if (unknown.length > 0) throw invalid(`has unknown fields: ${unknown.join(', ')}`, { fields: unknown });
  const { id, label, source, at } = object;
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH)
    throw invalid(`"id" must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  if (typeof label !== 'string' || !LABEL.test(label) || label.length > MAX_LABEL_LENGTH)
    throw invalid(`"label" must be a class name (letters, digits, _ . -; at most ${MAX_LABEL_LENGTH})`, {
      id,
    });
  if (
    source !== undefined &&
    source !== null &&
    (typeof source !== 'string' || !/^[a-z][a-z0-9_-]{0,63}$/.test(source))
  )
    throw invalid('"source" must be a source name such as payments', { id });
  let atMillis: number | null = null;
  if (at !== undefined && at !== null) {
    atMillis =
      typeof at === 'number'
        ? at
        : typeof at === 'string' && /^\d{4}-\d\d-\d\dT/.test(at)
          ? Date.parse(at)
          : Number.NaN;
    if (!Number.isFinite(atMillis) || atMillis < EARLIEST_AT || atMillis > LATEST_AT)
      throw invalid('"at" must be an ISO-8601 time or epoch millis between 2000 and 2100', { id });
  }
  return { id, label, source: typeof source === 'string' ? source : null, at: atMillis };
}

/** The upsert: the latest feedback of an id replaces an earlier one (a corrected truth). */
const UPSERT_SQL = `
INSERT INTO pattern_feedback (id, label, source, feedback_at)
SELECT f.id, f.label, f.source, to_timestamp(f.at / 1000.0)
  FROM json_to_recordset($1::json) AS f(id text, label text, source text, at float8)
ON CONFLICT (id) DO UPDATE
   SET label = EXCLUDED.label, source = EXCLUDED.source, feedback_at = EXCLUDED.feedback_at, received_at = now()`;

/** Feedback records → pattern_feedback, one statement per chunk; bad ones are dead-lettered alone. */
export function createFeedbackHandler(deps: {
  pool: Pick<pg.Pool, 'query'>;
  received: Counter<'result'>;
}): StageHandler {
  return async (records: readonly InboundRecord[]) => {
    const deadLetters: DeadLetter[] = [];
    // The last feedback of an id in the chunk wins, as it would across chunks.
    const byId = new Map<string, Feedback>();
    for (const record of records) {
      try {
        const feedback = parseFeedback(record.value);
        byId.delete(feedback.id);
        byId.set(feedback.id, feedback);
      } catch (error) {
        if (!(error instanceof PipelineError)) throw error;
        deadLetters.push({ record, error });
      }
    }
    if (byId.size > 0) {
      try {
        await deps.pool.query(UPSERT_SQL, [JSON.stringify([...byId.values()])]);
      } catch (error) {
        throw fromPostgres(error, { operation: 'feedback', phase: 'upsert the feedback' });
      }
    }
    deps.received.inc({ result: 'stored' }, records.length - deadLetters.length);
    if (deadLetters.length > 0) deps.received.inc({ result: 'invalid' }, deadLetters.length);
    return { messages: [], deadLetters };
  };
}

export interface FeedbackWindow {
  /** At most this many of the latest joined pairs per model version. */
  pairs: number;
  /** Only pairs whose feedback was received within this many hours. */
  hours: number;
}

/** Per model version and class over the window: true positives, false positives, false negatives. */
const CONFUSION_SQL = `
WITH windowed AS (
  SELECT model_name, model_version, true_label, predicted_label
    FROM (SELECT model_name, model_version, true_label, predicted_label,
                 row_number() OVER (PARTITION BY model_name, model_version ORDER BY received_at DESC, id) AS n
            FROM pattern_feedback_joined
           WHERE received_at > now() - make_interval(secs => $2)) AS ranked
   WHERE n <= $1
), classes AS (
  SELECT model_name, model_version, true_label AS class FROM windowed
  UNION
  SELECT model_name, model_version, predicted_label FROM windowed
)
SELECT c.model_name, c.model_version, c.class,
       count(*) FILTER (WHERE w.true_label = c.class AND w.predicted_label = c.class)::int AS tp,
       count(*) FILTER (WHERE w.true_label <> c.class AND w.predicted_label = c.class)::int AS fp,
       count(*) FILTER (WHERE w.true_label = c.class AND w.predicted_label <> c.class)::int AS fn
  FROM classes c JOIN windowed w USING (model_name, model_version)
 GROUP BY c.model_name, c.model_version, c.class`;

const COUNTS_SQL = `
SELECT (SELECT count(*) FROM pattern_feedback_joined)::int AS joined,
       (SELECT count(*) FROM pattern_feedback)::int AS received`;

export interface ClassQuality {
  model: string;
  version: string;
  class: string;
  tp: number;
  fp: number;
  fn: number;
  /** tp / (tp + fp); undefined when the model never predicted the class in the window. */
  precision: number | undefined;
  /** tp / (tp + fn); undefined when the class never was the truth in the window. */
  recall: number | undefined;
  /** Harmonic mean of both; undefined when either is. */
  f1: number | undefined;
}

export function qualityOf(row: {
  model: string;
  version: string;
  class: string;
  tp: number;
  fp: number;
  fn: number;
}): ClassQuality {
  const precision = row.tp + row.fp > 0 ? row.tp / (row.tp + row.fp) : undefined;
  const recall = row.tp + row.fn > 0 ? row.tp / (row.tp + row.fn) : undefined;
  const f1 =
    precision === undefined || recall === undefined
      ? undefined
      : precision + recall === 0
        ? 0
        : (2 * precision * recall) / (precision + recall);
  return { ...row, precision, recall, f1 };
}

export interface FeedbackQuality {
  /** Reads the window and sets the gauges; returns what it set. */
  refresh(): Promise<{ classes: ClassQuality[]; joined: number; received: number }>;
}

/**
 * pf_feedback_precision / _recall / _f1 {model,version,class} over the window,
 * pf_feedback_true_count and pf_feedback_predicted_count (the support of recall and of
 * precision), pf_feedback_joined (pairs with both a prediction and a truth) and
 * pf_feedback_unmatched (feedback without a stored prediction, yet).
 */
export function createFeedbackQuality(options: {
  pool: Pick<pg.Pool, 'query'>;
  registry: Registry;
  window: FeedbackWindow;
}): FeedbackQuality {
  const labelNames = ['model', 'version', 'class'] as const;
  const gauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames, registers: [options.registry] });
  const precision = gauge(
    'pf_feedback_precision',
    'Precision per model version and class over the feedback window',
  );
  const recall = gauge('pf_feedback_recall', 'Recall per model version and class over the feedback window');
  const f1 = gauge('pf_feedback_f1', 'F1 per model version and class over the feedback window');
  const trueCount = gauge(
    'pf_feedback_true_count',
    'Pairs in the feedback window whose true label is the class (support of recall)',
  );
  const predictedCount = gauge(
    'pf_feedback_predicted_count',
    'Pairs in the feedback window the model labelled with the class (support of precision)',
  );
  const joined = new Gauge({
    name: 'pf_feedback_joined',
    help: 'Feedback rows whose prediction is stored (all time)',
    registers: [options.registry],
  });
  const unmatched = new Gauge({
    name: 'pf_feedback_unmatched',
    help: 'Feedback rows without a stored prediction (unknown ids, or the prediction is not stored yet)',
    registers: [options.registry],
  });
  return {
    async refresh() {
      let rows: {
        model_name: string;
        model_version: string;
        class: string;
        tp: number;
        fp: number;
        fn: number;
      }[];
      let counts: { joined: number; received: number };
      try {
        rows = (await options.pool.query(CONFUSION_SQL, [options.window.pairs, options.window.hours * 3600]))
          .rows;
        counts = (await options.pool.query(COUNTS_SQL)).rows[0];
      } catch (error) {
        throw fromPostgres(error, { operation: 'feedback', phase: 'compute precision and recall' });
      }
      const classes = rows.map((r) =>
        qualityOf({
          model: r.model_name,
          version: r.model_version,
          class: r.class,
          tp: r.tp,
          fp: r.fp,
          fn: r.fn,
        }),
      );
      for (const g of [precision, recall, f1, trueCount, predictedCount]) g.reset();
      for (const q of classes) {
        const labels = { model: q.model, version: q.version, class: q.class };
        if (q.precision !== undefined) precision.set(labels, q.precision);
        if (q.recall !== undefined) recall.set(labels, q.recall);
        if (q.f1 !== undefined) f1.set(labels, q.f1);
        trueCount.set(labels, q.tp + q.fn);
        predictedCount.set(labels, q.tp + q.fp);
      }
      joined.set(counts.joined);
      unmatched.set(counts.received - counts.joined);
      return { classes, ...counts };
    },
  };
}

export function createFeedbackCounter(registry: Registry): Counter<'result'> {
  return new Counter({
    name: 'pf_feedback_received_total',
    help: 'Feedback messages consumed from patterns.feedback: stored, or invalid (dead-lettered)',
    labelNames: ['result'],
    registers: [registry],
  });
}
