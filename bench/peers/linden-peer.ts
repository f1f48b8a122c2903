import { connect } from '../../client-sdk/index.js';
import { durablePublish } from '../durable-publish.js';
import { pubsubThroughput } from '../pubsub-throughput.js';
import { spawnBroker, type BrokerProcess } from '../spawn-broker.js';
import { PAYLOAD, timeRequests, type Peer } from './peer.js';

/**
 * Linden through its own SDK: a broker process for the transient workloads, and for the
 * persistent one a `linden serve --data` on a fresh folder per run (every acknowledgement
 * follows an fdatasync of LMDB).
 */
export class LindenPeer implements Peer {
  readonly name = 'Linden';
  readonly persistentNote = 'LMDB, fdatasync before each ack';
  private constructor(private readonly broker: BrokerProcess) {}

  static async start(): Promise<LindenPeer> {
    return new LindenPeer(await spawnBroker());
  }

  async fanout(subscribers: number, messages: number): Promise<number> {
    return (await pubsubThroughput(this.broker.url, subscribers, messages)).deliveriesPerSecond;
  }

  async persistent(messages: number, inFlight: number): Promise<number> {
    return (await durablePublish(messages, inFlight, Math.min(20_000, messages))).ackedPerSecond;
  }

  async requests(count: number): Promise<number[]> {
    const responder = await connect(this.broker.url, { name: 'bench-responder' });
    const requester = await connect(this.broker.url, { name: 'bench-requester' });
    await responder.subscribe('bench.rpc', { callback: (msg) => msg.reply(msg.data) }).ready;
    try {
      return await timeRequests(count, () => requester.request('bench.rpc', PAYLOAD, { timeout: 5_000 }));
    } finally {
      await Promise.all([responder.close(), requester.close()]);
    }
  }

  close(): Promise<void> {
    return this.broker.stop();
  }
}
