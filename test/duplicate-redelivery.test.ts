/**
 * Duplicates after a reconnect (README "Duplicates after a reconnect"): a durable delivery the
 * application acked, whose ack the broker never got, comes back with a delivery count above 1;
 * the client acks it again itself instead of handing it over a second time.
 */
import type { StatusEvent } from '../client-sdk/index.js';
import { testBroker, until } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

interface QueueView { depth: number; inFlight: number; messages: number }

test('a message acked after its connection was lost is not handed over again when the broker redelivers it', async () => {
  await t.start();
  const operator = await t.client();
  const consumer = await t.client({ reconnect: { initialDelayMs: 200, maxDelayMs: 200 } });
  await consumer.createQueue('orders', 'orders.>');
  const seen: { n: number; dc: number }[] = [];
  let finish: (() => void) | undefined;
  const sub = consumer.subscribe<{ n: number }>('orders.>', {
    durable: 'orders',
    // Acked when the callback's promise resolves: n 1 is still being processed when the connection goes.
    callback: (m) => {
      seen.push({ n: m.data.n, dc: m.deliveryCount });
      return m.data.n === 1 && finish === undefined ? new Promise<void>((resolve) => { finish = resolve; }) : undefined;
    },
  });
  await sub.ready;
  const status = consumer.status();
  await operator.publish('orders.eu', { n: 1 }, { mode: 'persistent', ack: 'submission' });
  await until(() => finish !== undefined);

  // The connection goes while the message is being processed; the application finishes and
  // acks it, too late for that connection: the broker will deliver it again (dc 2).
  await operator.admin({ op: 'kick', connection: consumer.connectionId });
  for (let e: StatusEvent | undefined; e?.type !== 'disconnected';) e = (await status.next()).value as StatusEvent;
  finish!();
  for (let e: StatusEvent | undefined; e?.type !== 'connected';) e = (await status.next()).value as StatusEvent;

  // Oldest first: the redelivery of n 1 comes (and is acked by the client) before n 2.
  await operator.publish('orders.eu', { n: 2 }, { mode: 'persistent', ack: 'submission' });
  await until(() => seen.length >= 2);
  const view = async () => (await operator.admin({ op: 'queue', name: 'orders' })) as QueueView;
  let settled: QueueView | undefined;
  await until(() => settled?.messages === 0, 5_000, async () => { settled = await view(); });
  expect(seen).toEqual([{ n: 1, dc: 1 }, { n: 2, dc: 1 }]);
});

test('a redelivery of a message the application did not ack is handed over, and a first delivery always is', async () => {
  await t.start();
  const operator = await t.client();
  const consumer = await t.client({ reconnect: { initialDelayMs: 50, maxDelayMs: 50 } });
  await consumer.createQueue('tasks', 'tasks.>');
  const seen: { n: number; dc: number }[] = [];
  let held = 0;
  const sub = consumer.subscribe<{ n: number }>('tasks.>', {
    durable: 'tasks',
    // n 1 is still being processed when its connection goes (and until the test ends).
    callback: (m) => {
      seen.push({ n: m.data.n, dc: m.deliveryCount });
      if (m.deliveryCount > 1 || m.data.n !== 1) return undefined;
      held++;
      return new Promise<void>(() => {});
    },
  });
  await sub.ready;
  const status = consumer.status();
  await operator.publish('tasks.a', { n: 0 }, { mode: 'persistent', mid: 'task-0', ack: 'submission' });
  await operator.publish('tasks.a', { n: 1 }, { mode: 'persistent', mid: 'task-1', ack: 'submission' });
  await until(() => held === 1 && seen.length === 2).catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(seen)}`); });
  await operator.admin({ op: 'kick', connection: consumer.connectionId });
  for (let e: StatusEvent | undefined; e?.type !== 'connected';) e = (await status.next()).value as StatusEvent;
  await until(() => seen.length === 3).catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(seen)} ${JSON.stringify(await operator.admin({ op: "queue", name: "tasks" }))}`); });
  expect(seen).toEqual([{ n: 0, dc: 1 }, { n: 1, dc: 1 }, { n: 1, dc: 2 }]);
});
