/**
 * One messaging system as `npm run bench -- --peers` drives it: through its own Node client, the
 * same workloads, in the same harness process. A workload a system has no counterpart for is
 * left undefined and shown as n/a.
 */
export interface Peer {
  readonly name: string;
  /** One publisher, `subscribers` subscribers on one subject, 128-byte payloads, nothing acknowledged: deliveries/s. */
  fanout(subscribers: number, messages: number): Promise<number>;
  /** Publishes the system acknowledges as stored, `inFlight` outstanding: acknowledged publishes/s. */
  persistent?(messages: number, inFlight: number): Promise<number>;
  /** Sequential request/reply round trips between two connections: latency samples in ms. */
  requests?(count: number): Promise<number[]>;
  /** What the persistent figure promises, for the table. */
  readonly persistentNote?: string;
  close(): Promise<void>;
}

export const PAYLOAD = new Uint8Array(128).fill(7);

/**
 * Publishes `messages` through `publish`, staying at most `window` ahead of the slowest of
 * `counts` (each subscriber's deliveries so far), so the figure is sustained delivery, not how
 * much a broker or a client can buffer. Resolves with the seconds until every subscriber had all.
 * Yields to the event loop between bursts so the clients' sockets are read and written.
 */
export async function driveFanout(publish: () => void, counts: number[], messages: number, window = 20_000): Promise<number> {
  const slowest = () => Math.min(...counts);
  const started = performance.now();
  let sent = 0;
  while (sent < messages) {
    const ahead = sent - slowest();
    if (ahead < window) {
      const burst = Math.min(window - ahead, messages - sent, 2_000);
      for (let i = 0; i < burst; i++) publish();
      sent += burst;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  while (slowest() < messages) await new Promise((resolve) => setImmediate(resolve));
  return (performance.now() - started) / 1000;
}

/** Runs `request` `count` times one after another after `warmup` unmeasured ones: each round trip in ms. */
export async function timeRequests(count: number, request: () => Promise<unknown>, warmup = 500): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await request();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await request();
    samples.push(performance.now() - t0);
  }
  return samples;
}
