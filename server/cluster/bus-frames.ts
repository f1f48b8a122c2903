import { packr } from '../../protocol/codec.js';
import type { ReceiverRef } from '../../protocol/frames.js';
import type { Headers } from '../../protocol/headers.js';
import type { ReceiptEvent } from './durable/receipt-watches.js';

/*
 * What travels on the node channels, in MessagePack. A message is two values back to back: the
 * part for one node (which of its queue groups take it) and the body, encoded once per publish
 * however many nodes it reaches.
 */

/** A publish whose publisher waits for receipts: where the receiving node reports. */
export interface Track {
  readonly origin: string;
  readonly id: number;
  readonly stage: 'submission' | 'delivery' | 'processing';
  readonly reply: boolean;
  readonly codec: 'msgpack' | 'json';
  readonly timeoutMs: number;
}

export interface BusMessage {
  readonly kind: 'message';
  readonly groups: string[];
  readonly topic: string;
  readonly mid: string;
  readonly data: Uint8Array;
  readonly hdr: Headers | undefined;
  readonly track: Track | undefined;
}

/**
 * A receiving node's answer to a tracked message: whom it delivered to and whom it dropped; for
 * a submission, only how many got it (`unnamed`), since nothing more is asked of them.
 */
export interface BusReport {
  readonly kind: 'report';
  readonly id: number;
  readonly node: string;
  readonly receivers: ReceiverRef[];
  readonly dropped: ReceiverRef[];
  readonly unnamed: number;
}

/** One receiver (by its index in the report) reached a stage: delivered, processed, rejected, lost. */
export interface BusEvent {
  readonly kind: 'event';
  readonly id: number;
  readonly node: string;
  readonly index: number;
  readonly what: 'd' | 'p' | 'r' | 'l';
  readonly reason: string | undefined;
  readonly data: Uint8Array | undefined;
}

/**
 * A durable subscription on the sending node reached a stage with a persistent message whose
 * publisher, on the receiving node, waits for delivery or processing (ClusterQueues.forwardReceipt).
 */
export interface BusQueueEvent {
  readonly kind: 'queue-event';
  readonly queue: string;
  readonly mid: string;
  readonly event: ReceiptEvent;
}

/** Admin `kick` of a connection of the receiving node, asked on node `origin`, which waits for the answer (`kicked`) under `id`. */
export interface BusKick {
  readonly kind: 'kick';
  readonly id: number;
  readonly origin: string;
  readonly connection: string;
}

/** The answer to a `kick`: whether the connection was there (and is closed now). */
export interface BusKicked {
  readonly kind: 'kicked';
  readonly id: number;
  readonly found: boolean;
}

/** A client with a last will said hello on another node: a will it left here is off (protocol.md §4.8). */
export interface BusReturned {
  readonly kind: 'returned';
  /** The client's key (user and session, server/wills.ts). */
  readonly key: string;
}

export type BusFrame = BusMessage | BusReport | BusEvent | BusQueueEvent | BusKick | BusKicked | BusReturned;

const MESSAGE = 0;
const REPORT = 1;
const EVENT = 2;
const QUEUE_EVENT = 3;
const KICK = 4;
const KICKED = 5;
const RETURNED = 6;

export function encodeBody(topic: string, mid: string, data: Uint8Array, hdr: Headers | undefined, track: Track | undefined): Uint8Array {
  const t = track && [track.origin, track.id, track.stage, track.reply, track.codec, track.timeoutMs];
  return packr.pack([topic, mid, data, hdr ?? null, t ?? null]);
}

export function encodeMessage(groups: readonly string[], body: Uint8Array): Buffer {
  return Buffer.concat([packr.pack([MESSAGE, groups]), body]);
}

export function encodeReport(id: number, node: string, receivers: ReceiverRef[], dropped: ReceiverRef[], unnamed: number): Buffer {
  return packr.pack([REPORT, id, node, receivers, dropped, unnamed]);
}

export function encodeEvent(id: number, node: string, index: number, what: BusEvent['what'], reason?: string, data?: Uint8Array): Buffer {
  return packr.pack([EVENT, id, node, index, what, reason ?? null, data ?? null]);
}

export function encodeQueueEvent(queue: string, mid: string, e: ReceiptEvent): Buffer {
  return packr.pack([QUEUE_EVENT, queue, mid, e.kind, e.kind === 'rejected' ? e.reason : null]);
}

export function encodeKick(id: number, origin: string, connection: string): Buffer {
  return packr.pack([KICK, id, origin, connection]);
}

export function encodeKicked(id: number, found: boolean): Buffer {
  return packr.pack([KICKED, id, found]);
}

export function encodeReturned(key: string): Buffer {
  return packr.pack([RETURNED, key]);
}

export function decodeBusFrame(buf: Buffer): BusFrame {
  const values = packr.unpackMultiple(buf) as unknown[];
  const head = values[0] as unknown[];
  if (head[0] === MESSAGE) {
    const [topic, mid, data, hdr, t] = values[1] as [string, string, Uint8Array, Headers | null, unknown[] | null];
    const track = t ? { origin: t[0], id: t[1], stage: t[2], reply: t[3], codec: t[4], timeoutMs: t[5] } as Track : undefined;
    return { kind: 'message', groups: head[1] as string[], topic, mid, data, hdr: hdr ?? undefined, track };
  }
  if (head[0] === REPORT) {
    const [, id, node, receivers, dropped, unnamed] = head as [number, number, string, ReceiverRef[], ReceiverRef[], number];
    return { kind: 'report', id, node, receivers, dropped, unnamed };
  }
  if (head[0] === QUEUE_EVENT) {
    const [, queue, mid, kind, reason] = head as [number, string, string, ReceiptEvent['kind'], string | null];
    const event = (kind === 'rejected' ? { kind, reason: reason ?? '' } : { kind }) as ReceiptEvent;
    return { kind: 'queue-event', queue, mid, event };
  }
  if (head[0] === KICK) {
    const [, id, origin, connection] = head as [number, number, string, string];
    return { kind: 'kick', id, origin, connection };
  }
  if (head[0] === RETURNED) return { kind: 'returned', key: head[1] as string };
  if (head[0] === KICKED) {
    const [, id, found] = head as [number, number, boolean];
    return { kind: 'kicked', id, found };
  }
  const [, id, node, index, what, reason, data] = head as [number, number, string, number, BusEvent['what'], string | null, Uint8Array | null];
  return { kind: 'event', id, node, index, what, reason: reason ?? undefined, data: data ?? undefined };
}
