import { connect, type Client } from '../client-sdk/index.js';
import { driveFanout, PAYLOAD } from './peers/peer.js';

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
  const seconds = await driveFanout(() => void publisher.publish('bench.throughput', PAYLOAD), counts, messages, window);
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
