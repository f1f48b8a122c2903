import { Redis } from 'ioredis';
import { keepInFlight } from '../in-flight.js';
import { driveFanout, PAYLOAD, timeRequests, type Peer } from './peer.js';

const STREAM = 'linden-bench:stream';

/**
 * Redis through ioredis (auto-pipelined): PUBLISH/SUBSCRIBE for fan-out, XADD for acknowledged
 * publishes (as durable as the server's appendfsync setting, shown in the table), and
 * request/reply as two pub/sub hops (Redis has no request primitive).
 */
export class RedisPeer implements Peer {
  readonly name = 'Redis';
  private constructor(private readonly url: string, readonly persistentNote: string) {}

  static async reach(url = 'redis://127.0.0.1:6379'): Promise<RedisPeer | undefined> {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const [, fsync] = (await probe.config('GET', 'appendfsync')) as string[];
      const [, aof] = (await probe.config('GET', 'appendonly')) as string[];
      return new RedisPeer(url, aof === 'yes' ? `XADD, appendfsync ${fsync}` : 'XADD, no AOF (RDB snapshots only)');
    } catch {
      return undefined;
    } finally {
      probe.disconnect();
    }
  }

  private open(): Redis {
    return new Redis(this.url, { enableAutoPipelining: true });
  }

  async fanout(subscribers: number, messages: number): Promise<number> {
    const channel = `bench.fanout.${subscribers}`;
    const publisher = this.open();
    const subs: Redis[] = [];
    const counts = new Array<number>(subscribers).fill(0);
    for (let i = 0; i < subscribers; i++) {
      const r = this.open();
      await r.subscribe(channel);
      r.on('messageBuffer', () => { counts[i]!++; });
      subs.push(r);
    }
    const seconds = await driveFanout(() => void publisher.publish(channel, Buffer.from(PAYLOAD.buffer, PAYLOAD.byteOffset, PAYLOAD.length)), counts, messages);
    for (const r of [publisher, ...subs]) r.disconnect();
    return Math.round((messages * subscribers) / seconds);
  }

  async persistent(messages: number, inFlight: number): Promise<number> {
    const r = this.open();
    const payload = Buffer.from(PAYLOAD);
    try {
      await r.del(STREAM);
      const started = performance.now();
      await keepInFlight(messages, inFlight, () => r.xadd(STREAM, '*', 'd', payload));
      return Math.round(messages / ((performance.now() - started) / 1000));
    } finally {
      await r.del(STREAM);
      r.disconnect();
    }
  }

  async requests(count: number): Promise<number[]> {
    const responderIn = this.open();
    const responderOut = this.open();
    const requesterIn = this.open();
    const requesterOut = this.open();
    await responderIn.subscribe('bench.rpc');
    responderIn.on('messageBuffer', (_channel: Buffer, data: Buffer) => void responderOut.publish('bench.rpc.reply', data));
    await requesterIn.subscribe('bench.rpc.reply');
    let answer: (() => void) | undefined;
    requesterIn.on('messageBuffer', () => answer?.());
    const payload = Buffer.from(PAYLOAD);
    try {
      return await timeRequests(count, () => new Promise<void>((resolve) => {
        answer = resolve;
        void requesterOut.publish('bench.rpc', payload);
      }));
    } finally {
      for (const r of [responderIn, responderOut, requesterIn, requesterOut]) r.disconnect();
    }
  }

  async close(): Promise<void> {}
}
