import { WebSocket } from 'ws';
import { connect } from '../client-sdk/index.js';
import { packr } from '../protocol/codec.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
import { quantile } from './quantile.js';
import { spawnBroker } from './spawn-broker.js';

export interface FairnessLatency {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests that failed (timed out); none is expected. */
  errors: number;
}

export interface FairnessResult {
  connections: number;
  framesPerConnection: number;
  messagesPerFrame: number;
  /** From the first burst frame sent to the last burst's closing pong. */
  burstSeconds: number;
  /** Request/reply round trips of two other clients, one started every 2 ms. */
  idle: FairnessLatency;
  duringBursts: FairnessLatency;
}

const TOPIC = 'bench.fairness.rpc';
const PING_INTERVAL_MS = 2;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * `connections` raw clients each send `frames` frames of `perFrame` `out`s as fast as the socket
 * takes them (DESIGN.md §5 "Fairness": a frame of N messages is N units of work); meanwhile two
 * other clients keep request/reply round trips going, one started every 2 ms whether or not the
 * earlier ones came back, so a stall shows as many slow requests (no coordinated omission).
 * The worst of those round trips is how long one client's burst can hold up another.
 */
export async function fairness(connections = 8, frames = 20, perFrame = 5_000, idleMs = 1_000): Promise<FairnessResult> {
  const broker = await spawnBroker();
  try {
    const responder = await connect(broker.url, { name: 'bench-fair-responder' });
    const requester = await connect(broker.url, { name: 'bench-fair-requester' });
    const sub = responder.subscribe(TOPIC, { callback: (msg) => msg.reply(msg.data) });
    await sub.ready;
    const payload = new Uint8Array(100).fill(5);
    for (let i = 0; i < 500; i++) await requester.request(TOPIC, payload); // warm-up: JIT
    const bursts = await Promise.all(Array.from({ length: connections }, (_, i) => BurstClient.open(broker.url, `fair.${i}`, frames, perFrame)));

    const ping = (during: () => Promise<void>) => pingWhile(during, () => requester.request(TOPIC, payload, { timeout: REQUEST_TIMEOUT_MS }));
    const idle = await ping(() => new Promise((resolve) => setTimeout(resolve, idleMs)));
    let burstSeconds = 0;
    const duringBursts = await ping(async () => {
      const started = performance.now();
      await Promise.all(bursts.map((b) => b.burst()));
      burstSeconds = (performance.now() - started) / 1000;
    });
    for (const b of bursts) b.close();
    await Promise.all([responder.close(), requester.close()]);
    return { connections, framesPerConnection: frames, messagesPerFrame: perFrame, burstSeconds: round(burstSeconds, 2), idle, duringBursts };
  } finally {
    await broker.stop();
  }
}

/** Starts a request every 2 ms while `during` runs; resolves once the last of them is back. */
async function pingWhile(during: () => Promise<void>, request: () => Promise<unknown>): Promise<FairnessLatency> {
  const samples: number[] = [];
  const pending: Promise<void>[] = [];
  let errors = 0;
  const timer = setInterval(() => {
    const t0 = performance.now();
    pending.push(request().then(() => { samples.push(performance.now() - t0); }, () => { errors++; }));
  }, PING_INTERVAL_MS);
  try {
    await during();
  } finally {
    clearInterval(timer);
  }
  await Promise.all(pending);
  samples.sort((a, b) => a - b);
  const at = (q: number) => round(quantile(samples, q), 1);
  return { samples: samples.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(samples.at(-1) ?? NaN, 1), errors };
}

/** A raw MessagePack client that sends pre-encoded frames: no SDK work on this side to blur the figures. */
class BurstClient {
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;
  private readonly frames: Uint8Array[];

  private constructor(private readonly ws: WebSocket, space: string, frames: number, perFrame: number) {
    // Encoded up front: packing while the requests run would hold up this side's event loop.
    this.frames = Array.from({ length: frames }, (_, f) =>
      packr.pack(Array.from({ length: perFrame }, (_, i) => ({ t: 'out', space, tuple: ['job', f * perFrame + i] }))));
    ws.on('message', (data: Buffer) => {
      const decoded = packr.unpack(data) as unknown;
      for (const m of (Array.isArray(decoded) ? decoded : [decoded]) as { t: string; re?: number; code?: string; message?: string }[]) {
        if (m.t === 'err') throw new Error(`burst client got ${m.code}: ${m.message}`);
        if (m.re !== undefined) this.waiting.get(m.re)?.();
      }
    });
  }

  static async open(url: string, space: string, frames: number, perFrame: number): Promise<BurstClient> {
    const ws = new WebSocket(url, [SUBPROTOCOLS.msgpack], { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const client = new BurstClient(ws, space, frames, perFrame);
    await client.call({ t: 'hello', v: 1, name: `bench-burst-${space}` });
    return client;
  }

  /** Its frames of outs, then a ping whose pong says all of them were handled. */
  async burst(): Promise<void> {
    for (const frame of this.frames) this.ws.send(frame, { binary: true });
    await this.call({ t: 'ping' });
  }

  close(): void {
    this.ws.close(1000);
  }

  private call(message: Record<string, unknown>): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, () => { this.waiting.delete(id); resolve(); });
      this.ws.send(packr.pack({ ...message, id }), { binary: true });
    });
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
