import { once } from 'node:events';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { packr } from '../protocol/codec.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
import { quantile } from './quantile.js';

/*
 * Raw MessagePack clients for the streaming benchmarks (frozen-subscriber.ts, publisher-flood.ts)
 * and test/frozen-subscriber.test.ts, and the runs that measure them:
 * no SDK work on this side to blur the broker's figures. A payload carries the time it was
 * published (performance.now(), this process's clock) in its first 8 bytes, so a subscriber in
 * the same process measures publish-to-delivery latency.
 */

/** Opens a raw client and says hello; `name` shows in `linden connections`. */
async function open(url: string, name: string): Promise<WebSocket> {
  const ws = new WebSocket(url, [SUBPROTOCOLS.msgpack], { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.on('error', () => undefined); // a broker closing a frozen client is part of the run
  await call(ws, { t: 'hello', id: 1, v: 1, name });
  return ws;
}

/** Sends one request and resolves with its answer (the only traffic on the socket then). */
function call(ws: WebSocket, message: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: Buffer): void => {
      for (const m of packr.unpack(data) as { t: string; re?: number; code?: string }[]) {
        if (m.re !== message.id) continue;
        ws.off('message', onMessage);
        if (m.t === 'err') reject(new Error(`${String(message.t)} refused: ${m.code}`));
        else resolve();
      }
    };
    ws.on('message', onMessage);
    ws.send(packr.pack(message), { binary: true });
  });
}

/** Counts the messages of one topic and the latency of each. */
export class StreamSubscriber {
  received = 0;
  /** Drops the broker reported to this subscriber (`warn` SLOW_CONSUMER). */
  dropped = 0;
  /** Publish-to-delivery latencies in ms, while `recording`. */
  latencies: number[] = [];
  recording = false;
  closeCode: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('close', (code) => { this.closeCode = code; });
  }

  /** `decode: false`: reads without looking, as cheaply as a client can; the broker's view counts what it got. */
  static async open(url: string, name: string, topic: string, { decode = true } = {}): Promise<StreamSubscriber> {
    const ws = await open(url, name);
    await call(ws, { t: 'sub', id: 2, sid: 1, pattern: topic });
    const sub = new StreamSubscriber(ws);
    if (decode) ws.on('message', (data: Buffer) => sub.receive(data));
    return sub;
  }

  private receive(data: Buffer): void {
    const now = performance.now();
    for (const m of packr.unpack(data) as { t: string; data?: Uint8Array; dropped?: number }[]) {
      if (m.t === 'msg') {
        this.received++;
        if (this.recording) this.latencies.push(now - publishedAt(m.data!));
      } else if (m.t === 'warn') {
        this.dropped += m.dropped ?? 0;
      }
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Publishes `ack: none` messages with a timestamp, in frames of many. */
export class StreamPublisher {
  sent = 0;

  private constructor(readonly ws: WebSocket, private readonly topic: string, private readonly payloadBytes: number) {}

  static async open(url: string, name: string, topic: string, payloadBytes: number): Promise<StreamPublisher> {
    return new StreamPublisher(await open(url, name), topic, payloadBytes);
  }

  /** One frame of `n` messages stamped now. */
  publish(n: number): void {
    const now = performance.now();
    const frame = [];
    for (let i = 0; i < n; i++) frame.push({ t: 'pub', topic: this.topic, data: stamped(this.payloadBytes, now) });
    this.ws.send(packr.pack(frame), { binary: true });
    this.sent += n;
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * Sends `frame` (`perFrame` messages, encoded once) for `seconds` as fast as the socket takes it,
 * letting at most `cap` bytes wait on this side. Returns the messages sent and the time spent
 * waiting for the socket to drain: time in which the broker was not reading.
 */
export async function pushFor(publisher: StreamPublisher, frame: Uint8Array, perFrame: number, seconds: number, cap = 4 * 1024 * 1024): Promise<{ sent: number; blockedMs: number }> {
  const socket = (publisher.ws as unknown as { _socket: Socket })._socket;
  const started = performance.now();
  let sent = 0;
  let blockedMs = 0;
  while (performance.now() - started < seconds * 1000) {
    if (publisher.ws.bufferedAmount < cap) {
      publisher.ws.send(frame, { binary: true });
      sent += perFrame;
      publisher.sent += perFrame;
      continue;
    }
    const t0 = performance.now();
    await once(socket, 'drain');
    blockedMs += performance.now() - t0;
  }
  return { sent, blockedMs };
}

/** One frame of `n` `ack: none` messages of `bytes` bytes to `topic`, for pushFor(). */
export function floodFrame(topic: string, n: number, bytes: number): Uint8Array {
  return packr.pack(Array.from({ length: n }, () => ({ t: 'pub', topic, data: stamped(bytes, 0) })));
}

/** A payload of `bytes` bytes whose first 8 hold `at`. */
export function stamped(bytes: number, at: number): Buffer {
  const data = Buffer.alloc(bytes);
  data.writeDoubleLE(at, 0);
  return data;
}

function publishedAt(data: Uint8Array): number {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).readDoubleLE(0);
}

/** Resolves on the next turn of the event loop, I/O included. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `linden connections --json` of the broker at `url` (its HTTP API on the same port). */
export async function connectionsOf(url: string): Promise<{ id: string; name: string | null; pendingBytes: number; stalledMs: number; messagesIn: number; messagesOut: number; dropped: number }[]> {
  const res = await fetch(url.replace(/^ws/, 'http') + '/api/connections');
  return (await res.json()) as never;
}

/** The broker's resident set and V8 heap in use, in MiB, from its /metrics. */
export async function brokerMemory(url: string): Promise<{ rssMiB: number; heapMiB: number }> {
  const text = await (await fetch(url.replace(/^ws/, 'http') + '/metrics')).text();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const MiB = 1024 * 1024;
  return { rssMiB: round(read('process_resident_memory_bytes') / MiB, 1), heapMiB: round(read('nodejs_heap_size_used_bytes') / MiB, 1) };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface StreamFigures {
  /** Deliveries to the subscribers measured, all of them together, and per second. */
  deliveries: number;
  deliveriesPerSecond: number;
  /** Publish-to-delivery latency over every delivery to the normal subscribers. */
  p50Ms: number;
  p99Ms: number;
  /** Drops reported to the normal subscribers; none is expected. */
  dropped: number;
}

/** How a run publishes: messages per frame, and at most how many ahead of the slowest subscriber. */
export interface Pace {
  frameMessages: number;
  window: number;
}

/**
 * `messages` as fast as the slowest subscriber takes them (at most `pace.window` ahead of it),
 * and on while `more()` says so. Every subscriber must have been there for every message.
 */
export async function flood(publisher: StreamPublisher, subs: StreamSubscriber[], messages: number, pace: Pace, more = () => false): Promise<StreamFigures> {
  const measure = begin(subs);
  const first = publisher.sent;
  const slowest = () => Math.min(...subs.map((s) => s.received + s.dropped));
  while (publisher.sent - first < messages || more()) {
    const ahead = publisher.sent - slowest();
    if (ahead < pace.window) publisher.publish(Math.min(pace.window - ahead, pace.frameMessages));
    await turn();
  }
  await allArrived(publisher, subs);
  return measure();
}

/** Every message sent reached every subscriber, or was dropped for it and reported. */
async function allArrived(publisher: StreamPublisher, subs: StreamSubscriber[]): Promise<void> {
  while (subs.some((s) => s.received + s.dropped < publisher.sent)) await turn();
}

/** `perSecond` messages a second for `seconds`, sent every millisecond as they fall due. */
export async function steady(publisher: StreamPublisher, subs: StreamSubscriber[], perSecond: number, seconds: number, frameMessages: number): Promise<StreamFigures> {
  const measure = begin(subs);
  const first = publisher.sent;
  const total = perSecond * seconds;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * perSecond)) - (publisher.sent - first);
      for (let left = due; left > 0; left -= frameMessages) publisher.publish(Math.min(left, frameMessages));
      if (publisher.sent - first >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await allArrived(publisher, subs);
  return measure();
}

/** Starts recording; the function returned stops and sums up. */
function begin(subs: StreamSubscriber[]): () => StreamFigures {
  const started = performance.now();
  const received = subs.reduce((n, s) => n + s.received, 0);
  const dropped = subs.reduce((n, s) => n + s.dropped, 0);
  for (const s of subs) {
    s.latencies = [];
    s.recording = true;
  }
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const samples = subs.flatMap((s) => s.latencies).sort((a, b) => a - b);
    for (const s of subs) s.recording = false;
    const deliveries = subs.reduce((n, s) => n + s.received, 0) - received;
    return {
      deliveries,
      deliveriesPerSecond: Math.round(deliveries / seconds),
      p50Ms: round(quantile(samples, 0.5), 2),
      p99Ms: round(quantile(samples, 0.99), 2),
      dropped: subs.reduce((n, s) => n + s.dropped, 0) - dropped,
    };
  };
}

