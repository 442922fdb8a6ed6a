/**
 * `--wait` of `policy apply` and the `model` changes: every running replica of a service
 * acknowledges a control change on the control topic it follows. This judges those
 * acknowledgements round after round until one replica refused the change, every running one
 * has it in force, or the time is up. A replica that starts meanwhile counts too; one that
 * stops leaves the set.
 */

export type WaitResult = 'in-force' | 'rejected' | 'timeout';

/** What one running replica said about the change waited for. */
export interface AckView {
  replica: string;
  status: 'in-force' | 'rejected' | 'pending';
  detail?: string;
}

export interface AckWait<V extends AckView> {
  /** Follows the control topic into the state `views` reads; stopped when the wait ends. */
  follower: { caughtUp: Promise<unknown>; stop(): Promise<void> };
  /** The replicas that run now, each with its acknowledgement of the change. */
  views: () => Promise<V[]>;
  /** What a replica that has not acknowledged yet still runs, for the timeout's text. */
  serving: (view: V) => string | null;
  /** The service's replicas in the texts: "router", "tagger". */
  replicas: string;
  /** The text when no replica runs at all. */
  noneRunning: string;
  timeoutMs: number;
  pollMs: number;
  signal: AbortSignal;
}

export interface WaitOutcome<V> {
  result: WaitResult;
  replicas: V[];
  text: string;
}

export async function waitForAcknowledgements<V extends AckView>(wait: AckWait<V>): Promise<WaitOutcome<V>> {
  const started = Date.now();
  try {
    await wait.follower.caughtUp;
    for (;;) {
      const views = await wait.views();
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const rejected = views.filter((v) => v.status === 'rejected');
      if (rejected.length > 0) {
        return {
          result: 'rejected',
          replicas: views,
          text: `refused by ${rejected.map((v) => `${v.replica} (${v.detail})`).join('; ')}`,
        };
      }
      if (views.every((v) => v.status === 'in-force')) {
        return {
          result: 'in-force',
          replicas: views,
          text:
            views.length === 0
              ? wait.noneRunning
              : `in force on all ${views.length} ${wait.replicas} replica(s) after ${elapsed} s: ${views.map((v) => v.replica).join(', ')}`,
        };
      }
      if (Date.now() - started > wait.timeoutMs || wait.signal.aborted) {
        const pending = views.filter((v) => v.status === 'pending');
        return {
          result: 'timeout',
          replicas: views,
          text: `not acknowledged after ${elapsed} s by ${pending.map((v) => `${v.replica} (on ${wait.serving(v) ?? 'unknown'})`).join(', ')}`,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, wait.pollMs));
    }
  } finally {
    await wait.follower.stop();
  }
}
