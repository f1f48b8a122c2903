import { connect, type Client } from '../client-sdk/index.js';

export interface ThroughputResult {
  subscribers: number;
  published: number;
  deliveries: number;
  seconds: number;
  deliveriesPerSecond: number;
}

/**
 * One publisher, `subscribers` subscribers on one topic, 128-byte payloads, ack 'none'.
 * The publisher stays at most `window` messages ahead of the slowest subscriber, so the run
 * measures sustained delivery, not how much the broker can buffer. `subscriberUrl` puts
 * subscriber i on another broker of a cluster (the publisher stays on `url`).
 */
export async function pubsubThroughput(
  url: string, subscribers: number, messages: number, window = 20_000, subscriberUrl: (i: number) => string = () => url,
): Promise<ThroughputResult> {
  const publisher = await connect(url, { name: 'bench-pub' });
  const clients: Client[] = [];
  const counts = new Array<number>(subscribers).fill(0);
  for (let i = 0; i < subscribers; i++) {
    const client = await connect(subscriberUrl(i), { name: `bench-sub-${i}` });
    clients.push(client);
    const sub = client.subscribe('bench.throughput', { callback: () => { counts[i]!++; } });
    await sub.ready;
  }
  await seenByPublisher(publisher, clients);
  const payload = new Uint8Array(128).fill(7);
  const slowest = () => Math.min(...counts);
  const started = performance.now();
  let sent = 0;
  while (sent < messages) {
    const ahead = sent - slowest();
    if (ahead >= window) {
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    const batch = Math.min(window - ahead, messages - sent, 2_000);
    for (let i = 0; i < batch; i++) void publisher.publish('bench.throughput', payload);
    sent += batch;
    await new Promise((resolve) => setImmediate(resolve));
  }
  while (slowest() < messages) await new Promise((resolve) => setImmediate(resolve));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([publisher.close(), ...clients.map((c) => c.close())]);
  const deliveries = messages * subscribers;
  return { subscribers, published: messages, deliveries, seconds, deliveriesPerSecond: Math.round(deliveries / seconds) };
}

/**
 * Once the publisher's broker counts a probe subscription made after the others on every
 * subscriber, it sees theirs too (a cluster's nodes learn of each other's in order); at once on
 * one broker.
 */
async function seenByPublisher(publisher: Client, subscribers: Client[]): Promise<void> {
  const probes = subscribers.map((c) => c.subscribe('bench.probe'));
  await Promise.all(probes.map((p) => p.ready));
  while ((await publisher.publish('bench.probe', 0, { ack: 'submission' })).receivers < subscribers.length) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (const p of probes) p.unsubscribe();
}
