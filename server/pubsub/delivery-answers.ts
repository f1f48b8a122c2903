import type { LindenError } from '../../protocol/errors.js';
import type { AckFrame, NackFrame, RcvFrame, WorkingFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { payloadWithin } from './payload.js';

// What a receiver answers about a delivery it was given with a tag (protocol.md §8): whoever
// handed the tag out (a receipt tracker, a durable queue, a stream reader) hears of it.

/** `rcv`: the deliveries arrived. Every tag is tried; the first unknown one is the answer. */
export function received(conn: Connection, f: RcvFrame): void {
  let unknown: LindenError | undefined;
  for (const tag of f.tags) {
    try {
      const entry = conn.tagEntry(tag);
      entry?.owner.delivered(entry.index);
    } catch (err) {
      unknown ??= err as LindenError;
    }
  }
  if (unknown) throw unknown;
}

/** `ack`: processed, with a reply for a request. */
export function acked(conn: Connection, f: AckFrame): void {
  const entry = conn.tagEntry(f.tag);
  if (!entry) return;
  // Check the reply fully before the tag is spent, so a refused ack can be sent again corrected.
  const reply = f.data === undefined ? undefined : payloadWithin(conn, f.data);
  if (reply && conn.codec.name === 'msgpack' && entry.owner.publisherCodec === 'json') reply.jsonData();
  conn.releaseTag(f.tag);
  entry.owner.processed(entry.index, reply);
}

/** `nack`: refused (redelivered later, where its owner redelivers). */
export function nacked(conn: Connection, f: NackFrame): void {
  const entry = conn.tagEntry(f.tag);
  if (!entry) return;
  conn.releaseTag(f.tag);
  entry.owner.rejected(entry.index, f.reason, f.delay);
}

/** `working`: still processing; its owner may extend its deadline. */
export function working(conn: Connection, f: WorkingFrame): void {
  const entry = conn.tagEntry(f.tag);
  entry?.owner.working?.(entry.index);
}
