import type { ByteStream } from '../../protocol/byte-stream.js';
import type { PubFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { Route } from './router.js';
import { isGroup } from './subscription.js';

/** Bytes a large message arriving may run ahead of its slowest receiver. */
const STREAM_WINDOW = 4 * 1024 * 1024;
/** How long one receiver may hold a publisher back. */
const STREAM_GRACE_MS = 1000;

/**
 * A large `pub` arrives at the broker as fragments; the broker may route it at the first one
 * and forward each fragment as it comes, so it never holds the whole message (issue 14: a
 * 50 MiB message took twice its size in the broker, and a copy of all of it). That is only
 * right where nothing needs the whole message first. Everything else waits for the last
 * fragment and is published as any message is (`collect`).
 */
export function forwardsAsItArrives(f: PubFrame, route: Route, payloadBytes: number, clustered: boolean): boolean {
  // Stored whole, answered, kept as a retained message, or sent to other nodes: those need every byte.
  if (f.mode === 'persistent' || f.reply || f.retain === true || clustered) return false;
  // A JSON receiver gets the payload converted, and conversion needs all of it.
  if (route.json) return false;
  for (const entry of route.entries) {
    if (isGroup(entry) ? !entry.members.every((m) => takesFragments(m.conn, payloadBytes)) : !takesFragments(entry.conn, payloadBytes)) return false;
  }
  return true;
}

/** A receiver that will get this message in fragments, so it can get them as they come. */
function takesFragments(conn: Connection, payloadBytes: number): boolean {
  return conn.codec.name === 'msgpack' && conn.fragmentsPayload(payloadBytes);
}

/**
 * Once the readers are attached (the deliveries made), the stream keeps no slice they have
 * passed. A submission receipt waits for the last byte: until then the broker does not have the
 * message. A message that broke off gets no receipt: its fault was answered already, once, as
 * for any fragmented message (protocol.md §2.3).
 */
export function afterForwarding(stream: ByteStream, publisher: Connection, writeDeadlineMs: number, receipt: (() => void) | undefined): void {
  stream.seal();
  // The publisher is read no faster than its slowest receiver takes the message, a few MiB
  // apart. A receiver that holds it back for a second stops counting: the rest is kept for it
  // as for any slow consumer (§11), and the publisher goes on.
  const graceMs = Math.min(STREAM_GRACE_MS, writeDeadlineMs);
  stream.throttleInput(STREAM_WINDOW, graceMs, () => publisher.pauseReading('stream'), () => publisher.resumeReading('stream'));
  if (receipt) stream.onEnd((err) => err === undefined && receipt());
}
