/**
 * Retained messages: a status board. Devices publish their status on `status.<device>` with
 * `retain`, so the broker keeps each device's last one; a dashboard that starts later subscribes
 * with `retained: true` and learns every device's current status at once (`msg.retained`), then
 * follows live changes, with none missed and none repeated in between.
 *
 *   npm run build && npm start                         # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/retained-status.js              # prints the board, one live change, exits 0
 *
 * The statuses are persistent: with a data folder they survive a broker restart. At the end the
 * example clears them again (an empty payload with retain). LINDEN_URL points it at another broker.
 */
import { connect, type Message } from 'linden';
import { brokerUrl, fail, reportFailures } from './run.js';

type Status = 'online' | 'offline';
const DEVICES: ReadonlyArray<[string, Status]> = [['door-1', 'online'], ['door-2', 'offline'], ['door-3', 'online']];

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl();

const devices = await connect(url, { name: 'example-devices' });
const dashboard = await connect(url, { name: 'example-dashboard' });
try {
  // Each device says how it is; `ack: 'submission'` waits until the broker has it on disk.
  for (const [device, status] of DEVICES) {
    await devices.publish(`status.${device}`, status, { retain: true, mode: 'persistent', ack: 'submission' });
  }

  // The dashboard starts afterwards and still sees every device: retained first, then live.
  const board = dashboard.subscribe<Status>('status.*', { retained: true });
  const it = board[Symbol.asyncIterator]();
  for (let i = 0; i < DEVICES.length; i++) show((await it.next()).value as Message<Status>);
  await devices.publish('status.door-2', 'online', { retain: true, mode: 'persistent' });
  show((await it.next()).value as Message<Status>);
  board.unsubscribe();

  // Clean up: an empty payload with retain clears a topic's retained message.
  for (const [device] of DEVICES) await devices.publish(`status.${device}`, '', { retain: true, mode: 'persistent', ack: 'submission' });
  console.log(`cleared ${DEVICES.length} retained statuses`);
} finally {
  await dashboard.close();
  await devices.close();
}

function show(msg: Message<Status> | undefined): void {
  if (!msg) fail('the status board ended early');
  console.log(`${msg.topic.slice('status.'.length)} is ${msg.data} (${msg.retained ? 'retained' : 'live'})`);
}
