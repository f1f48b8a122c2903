import { msgpackCodec } from '../../../protocol/codec.js';
import { LindenError } from '../../../protocol/errors.js';
import type { Connection, TagOwner } from '../../connection.js';
import { OutboundMessage } from '../outbound-message.js';
import { Payload } from '../payload.js';
import type { AckDeadlines } from './ack-deadlines.js';
import type { StreamEntry } from './stream-records.js';

/** Unacknowledged deliveries a named reader holds; past it, it reads on once acks come. */
export const READER_MAX_IN_FLIGHT = 256;

/** What a stream reader (one broker's or a cluster node's) is, for delivering one entry. */
export interface DeliveringReader extends TagOwner {
  readonly conn: Connection;
  readonly sid: number;
  /** A named reader's name: its deliveries carry a tag to ack; an unnamed one's do not. */
  readonly name: string | undefined;
  /** Seq → tag of the deliveries it has not acked (named readers). */
  readonly inFlight: Map<number, number>;
  /** A named reader's ackWait. */
  readonly deadlines: AckDeadlines | undefined;
  /** Seq → deliveries so far in this attachment, of the deliveries it has not acked (named readers). */
  readonly deliveries: Map<number, number>;
}

/** Delivers one stream entry to its reader, with its seq and append time (protocol.md §9.11). */
export function deliverEntry(reader: DeliveringReader, e: StreamEntry): void {
  const out = new OutboundMessage(e.topic, e.mid, new Payload(e.data, msgpackCodec), 1, e.hdr);
  // MessagePack a JSON reader cannot read: skipped, as if read.
  if (reader.conn.codec.name === 'json' && !out.payload.convertible()) return;
  if (reader.name === undefined) {
    reader.conn.deliver(reader.sid, out, { seq: e.seq, time: e.time }, true);
    return;
  }
  const tag = reader.conn.trackTag(reader, e.seq);
  reader.inFlight.set(e.seq, tag);
  reader.deadlines?.track(e.seq, tag);
  // Delivered again (a nack, an ackWait that passed): `dc` tells the consumer, as a durable queue's does.
  const dc = (reader.deliveries.get(e.seq) ?? 0) + 1;
  reader.deliveries.set(e.seq, dc);
  reader.conn.deliver(reader.sid, out, { tag, ack: 'processing', seq: e.seq, time: e.time, dc }, true);
}

/** A named reader's position: the lowest seq not acked. Deliveries go in seq order, but a nacked one comes again later. */
export function lowestUnacked(next: number, inFlight: ReadonlyMap<number, number>): number {
  let low = next;
  for (const seq of inFlight.keys()) if (seq < low) low = seq;
  return low;
}

/** A named reader with this many unacked waits for acks before reading on. */
export function readerFull(reader: Pick<DeliveringReader, 'name' | 'inFlight'>): boolean {
  return reader.name !== undefined && reader.inFlight.size >= READER_MAX_IN_FLIGHT;
}

/** What ends a named reader's subscription when a newer one takes the reader over (on any node). */
export function readerMoved(stream: string, reader: string, sid: number): LindenError {
  return new LindenError('STREAM_READER_MOVED', `reader "${reader}" of stream "${stream}" was taken over by a newer subscription`, { name: stream, reader, sid });
}

/** What ends a reader's subscription when its stream is deleted. */
export function streamDeleted(stream: string, sid: number): LindenError {
  return new LindenError('NOT_FOUND', `stream "${stream}" was deleted`, { name: stream, sid });
}
