import { connect, StorageType, type NatsConnection } from 'nats';
import { keepInFlight } from '../in-flight.js';
import { driveFanout, PAYLOAD, timeRequests, type Peer } from './peer.js';

const STREAM = 'LINDEN_BENCH';

/**
 * NATS through nats.js: core pub/sub and request/reply, and JetStream publishes to a file-storage
 * stream (acknowledged once the server has it; JetStream syncs to disk on its own interval, not
 * before each acknowledgement).
 */
export class NatsPeer implements Peer {
  readonly name = 'NATS';
  readonly persistentNote = 'JetStream, file storage (no fsync before the ack)';

  private constructor(private readonly servers: string) {}

  /** Undefined when nothing answers at `servers`. */
  static async reach(servers = '127.0.0.1:4222'): Promise<NatsPeer | undefined> {
    try {
      await (await connect({ servers, timeout: 1_000 })).close();
      return new NatsPeer(servers);
    } catch {
      return undefined;
    }
  }

  async fanout(subscribers: number, messages: number): Promise<number> {
    const subject = `bench.fanout.${subscribers}`;
    const publisher = await connect({ servers: this.servers });
    const subs: NatsConnection[] = [];
    const counts = new Array<number>(subscribers).fill(0);
    for (let i = 0; i < subscribers; i++) {
      const nc = await connect({ servers: this.servers });
      nc.subscribe(subject, { callback: () => { counts[i]!++; } });
      await nc.flush();
      subs.push(nc);
    }
    const seconds = await driveFanout(() => publisher.publish(subject, PAYLOAD), counts, messages);
    await Promise.all([publisher, ...subs].map((nc) => nc.close()));
    return Math.round((messages * subscribers) / seconds);
  }

  async persistent(messages: number, inFlight: number): Promise<number> {
    const nc = await connect({ servers: this.servers });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(STREAM).catch(() => false);
    await jsm.streams.add({ name: STREAM, subjects: ['bench.js.>'], storage: StorageType.File });
    const js = nc.jetstream();
    try {
      const started = performance.now();
      await keepInFlight(messages, inFlight, () => js.publish('bench.js.x', PAYLOAD));
      return Math.round(messages / ((performance.now() - started) / 1000));
    } finally {
      await jsm.streams.delete(STREAM).catch(() => false);
      await nc.close();
    }
  }

  async requests(count: number): Promise<number[]> {
    const responder = await connect({ servers: this.servers });
    const requester = await connect({ servers: this.servers });
    responder.subscribe('bench.rpc', { callback: (_err, m) => { m.respond(m.data); } });
    await responder.flush();
    try {
      return await timeRequests(count, () => requester.request('bench.rpc', PAYLOAD, { timeout: 5_000 }));
    } finally {
      await Promise.all([responder.close(), requester.close()]);
    }
  }

  async close(): Promise<void> {}
}
