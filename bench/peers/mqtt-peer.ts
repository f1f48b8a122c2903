import mqtt, { type MqttClient } from 'mqtt';
import { keepInFlight } from '../in-flight.js';
import { driveFanout, PAYLOAD, timeRequests, type Peer } from './peer.js';

/**
 * An MQTT broker (Mosquitto here) through MQTT.js: QoS 0 for fan-out, QoS 1 for acknowledged
 * publishes (PUBACK once the broker has it; Mosquitto writes its persistence file on its own
 * schedule), request/reply as two QoS 0 hops.
 */
export class MqttPeer implements Peer {
  readonly name = 'Mosquitto';
  readonly persistentNote = 'QoS 1 (PUBACK, no fsync before it)';
  private constructor(private readonly url: string) {}

  static async reach(url = 'mqtt://127.0.0.1:1883'): Promise<MqttPeer | undefined> {
    try {
      const probe = await mqtt.connectAsync(url, { connectTimeout: 1_000, reconnectPeriod: 0 });
      await probe.endAsync();
      return new MqttPeer(url);
    } catch {
      return undefined;
    }
  }

  private open(): Promise<MqttClient> {
    return mqtt.connectAsync(this.url, { reconnectPeriod: 0 });
  }

  async fanout(subscribers: number, messages: number): Promise<number> {
    const topic = `bench/fanout/${subscribers}`;
    const publisher = await this.open();
    const subs: MqttClient[] = [];
    const counts = new Array<number>(subscribers).fill(0);
    for (let i = 0; i < subscribers; i++) {
      const c = await this.open();
      c.on('message', () => { counts[i]!++; });
      await c.subscribeAsync(topic, { qos: 0 });
      subs.push(c);
    }
    const payload = Buffer.from(PAYLOAD);
    const seconds = await driveFanout(() => void publisher.publish(topic, payload, { qos: 0 }), counts, messages);
    await Promise.all([publisher, ...subs].map((c) => c.endAsync()));
    return Math.round((messages * subscribers) / seconds);
  }

  async persistent(messages: number, inFlight: number): Promise<number> {
    const c = await this.open();
    const payload = Buffer.from(PAYLOAD);
    try {
      const started = performance.now();
      await keepInFlight(messages, inFlight, () => c.publishAsync('bench/persistent', payload, { qos: 1 }));
      return Math.round(messages / ((performance.now() - started) / 1000));
    } finally {
      await c.endAsync();
    }
  }

  async requests(count: number): Promise<number[]> {
    const responder = await this.open();
    const requester = await this.open();
    responder.on('message', (_topic, data) => void responder.publish('bench/rpc/reply', data, { qos: 0 }));
    await responder.subscribeAsync('bench/rpc', { qos: 0 });
    let answer: (() => void) | undefined;
    requester.on('message', () => answer?.());
    await requester.subscribeAsync('bench/rpc/reply', { qos: 0 });
    const payload = Buffer.from(PAYLOAD);
    try {
      return await timeRequests(count, () => new Promise<void>((resolve) => {
        answer = resolve;
        requester.publish('bench/rpc', payload, { qos: 0 });
      }));
    } finally {
      await Promise.all([responder.endAsync(), requester.endAsync()]);
    }
  }

  async close(): Promise<void> {}
}
