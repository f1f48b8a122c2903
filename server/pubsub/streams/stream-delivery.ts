import { msgpackCodec } from '../../../protocol/codec.js';
import { LindenError } from '../../../protocol/errors.js';
import type { Connection, TagOwner } from '../../connection.js';
import { OutboundMessage } from '../outbound-message.js';
import { Payload } from '../payload.js';
import type { ReaderAcks } from './reader-acks.js';
import type { StreamEntry } from './stream-records.js';

/** What a stream reader (one broker's or a cluster node's) is, for delivering one entry. */
export interface DeliveringReader extends TagOwner {
  readonly conn: Connection;
  readonly sid: number;
  /** A named reader's deliveries waiting for an ack; an unnamed reader's wait for nothing. */
  readonly acks: ReaderAcks | undefined;
}

/** Delivers one stream entry to its reader, with its seq and append time (protocol.md §9.11). */
export function deliverEntry(reader: DeliveringReader, e: StreamEntry): void {
  const out = new OutboundMessage(e.topic, e.mid, new Payload(e.data, msgpackCodec), 1, e.hdr);
  // MessagePack a JSON reader cannot read: skipped, as if read.
  if (reader.conn.codec.name === 'json' && !out.payload.convertible()) return;
  if (reader.acks === undefined) {
    reader.conn.deliver(reader.sid, out, { seq: e.seq, time: e.time }, true);
    return;
  }
  // Delivered again (a nack, an ackWait that passed): `dc` tells the consumer, as a durable queue's does.
  const { tag, count } = reader.acks.deliver(e.seq);
  reader.conn.deliver(reader.sid, out, { tag, ack: 'processing', seq: e.seq, time: e.time, dc: count }, true);
}

/** What ends a named reader's subscription when a newer one takes the reader over (on any node). */
export function readerMoved(stream: string, reader: string, sid: number): LindenError {
  return new LindenError('STREAM_READER_MOVED', `reader "${reader}" of stream "${stream}" was taken over by a newer subscription`, { name: stream, reader, sid });
}

/** What ends a reader's subscription when its stream is deleted. */
export function streamDeleted(stream: string, sid: number): LindenError {
  return new LindenError('NOT_FOUND', `stream "${stream}" was deleted`, { name: stream, sid });
}
