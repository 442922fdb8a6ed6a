/**
 * Child-process entry for one relay of the passthrough chain (see passthrough.ts for why
 * relays run as processes). Protocol over the IPC channel:
 *   parent → { type: 'start', options }            child → { type: 'joined' }
 *   parent → { type: 'stop' }                       child → { type: 'stopped', stats }
 *   child  → { type: 'failed', message }            on any error; then exits 1
 * If the parent goes away the channel closes and the relay exits.
 */
import { type Relay, type RelayOptions, startRelay } from './relay.ts';

type ParentMessage = { type: 'start'; options: RelayOptions } | { type: 'stop' };

let relay: Relay | undefined;

function send(message: unknown, then?: () => void): void {
  process.send?.(message, undefined, {}, () => then?.());
}

function fail(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  send({ type: 'failed', message }, () => process.exit(1));
}

process.on('disconnect', () => process.exit(0));
process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') {
    startRelay(message.options)
      .then(async (started) => {
        relay = started;
        await started.joined;
        send({ type: 'joined' });
      })
      .catch(fail);
  } else if (message.type === 'stop') {
    const running = relay;
    if (!running) process.exit(0);
    running
      .stop()
      .then((stats) => {
        // Disconnect only once the stats are written, or the parent might never see them.
        send({ type: 'stopped', stats }, () => process.disconnect?.());
      })
      .catch(fail);
  }
});
