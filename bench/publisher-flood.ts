import type { Socket } from 'node:net';
import { spawnBroker } from './spawn-broker.js';
import { brokerMemory, connectionsOf, floodFrame, pushFor, round, StreamPublisher, StreamSubscriber } from './streams.js';

export interface FloodSample {
  atSeconds: number;
  /** Messages the publisher had handed to its socket, and those the broker had handled. */
  sent: number;
  handled: number;
  rssMiB: number;
  heapMiB: number;
}

export interface PublisherFloodResult {
  seconds: number;
  payloadBytes: number;
  /** Messages per second the publisher got onto its socket: as many as the broker read. */
  publisherPerSecond: number;
  /** Messages per second the broker handled from it. */
  handledPerSecond: number;
  /** Share of the run the publisher spent waiting for its socket to drain: the broker was not reading. */
  publisherBlockedShare: number;
  /** Deliveries per second, and drops, at a subscriber that reads all it can and at one that sips. */
  reader: { perSecond: number; dropped: number };
  sipper: { perSecond: number; dropped: number };
  broker: { before: { rssMiB: number; heapMiB: number }; peakRssMiB: number; peakHeapMiB: number; samples: FloodSample[] };
}

const TOPIC = 'bench.flood';
/** What the publisher lets wait on its own socket before it waits for 'drain'. */
const PUBLISHER_BUFFER = 4 * 1024 * 1024;

/**
 * Issue 13: "publishers that outrun the broker are slowed by backpressure (the broker stops
 * reading their socket while its own queues for them are full), not by unbounded buffering".
 * One raw publisher sends frames of 500 `ack: none` messages as fast as its socket takes them,
 * to a broker in a child process (default options) with two subscribers: one that reads all it
 * can and one that reads a sip (one socket read) every 100 ms. Every 250 ms the broker's RSS and heap (its
 * /metrics) and how much of the publisher it has handled are sampled. The broker handles a frame
 * in slices and does not read the socket while a slice waits (DESIGN.md §5 "Fairness"), so the
 * publisher is held to the broker's pace by TCP, and the broker's memory stays flat.
 */
export async function publisherFlood(seconds = 5, payloadBytes = 256): Promise<PublisherFloodResult> {
  const broker = await spawnBroker();
  try {
    const publisher = await StreamPublisher.open(broker.url, 'bench-flood-pub', TOPIC, payloadBytes);
    const reader = await StreamSubscriber.open(broker.url, 'bench-flood-reader', TOPIC);
    const sipper = await StreamSubscriber.open(broker.url, 'bench-flood-sipper', TOPIC);
    const sipSocket = (sipper.ws as unknown as { _socket: Socket })._socket;
    sipper.ws.pause();
    const sips = setInterval(() => {
      sipper.ws.resume();
      sipSocket.once('data', () => sipper.ws.pause());
    }, 100);

    const frame = floodFrame(TOPIC, 500, payloadBytes);
    const before = await brokerMemory(broker.url);
    const samples: FloodSample[] = [];
    const started = performance.now();
    const sampler = setInterval(() => {
      void Promise.all([brokerMemory(broker.url), connectionsOf(broker.url)]).then(([memory, list]) => {
        const handled = list.find((c) => c.name === 'bench-flood-pub')?.messagesIn ?? 0;
        samples.push({ atSeconds: round((performance.now() - started) / 1000, 2), sent: publisher.sent, handled, ...memory });
      });
    }, 250);
    const { blockedMs } = await pushFor(publisher, frame, 500, seconds, PUBLISHER_BUFFER);
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    clearInterval(sips);
    const list = await connectionsOf(broker.url);
    const handled = list.find((c) => c.name === 'bench-flood-pub')?.messagesIn ?? 0;
    // The broker's own count: a receiver is told of drops only once its output is under budget again.
    const droppedFor = (name: string): number => list.find((c) => c.name === name)?.dropped ?? 0;
    const result: PublisherFloodResult = {
      seconds: round(elapsed, 2),
      payloadBytes,
      publisherPerSecond: Math.round((publisher.sent - publisher.ws.bufferedAmount / (frame.length / 500)) / elapsed),
      handledPerSecond: Math.round(handled / elapsed),
      publisherBlockedShare: round(blockedMs / 1000 / elapsed, 2),
      reader: { perSecond: Math.round(reader.received / elapsed), dropped: droppedFor('bench-flood-reader') },
      sipper: { perSecond: Math.round(sipper.received / elapsed), dropped: droppedFor('bench-flood-sipper') },
      broker: {
        before,
        peakRssMiB: Math.max(...samples.map((s) => s.rssMiB)),
        peakHeapMiB: Math.max(...samples.map((s) => s.heapMiB)),
        samples,
      },
    };
    publisher.close();
    reader.close();
    sipper.close();
    return result;
  } finally {
    await broker.stop();
  }
}
