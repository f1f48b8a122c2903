import { msgpackCodec } from '../../protocol/codec.js';
import type { ReceiverRef } from '../../protocol/frames.js';
import type { Connection, TagOwner } from '../connection.js';
import { OutboundMessage } from '../pubsub/outbound-message.js';
import { Payload } from '../pubsub/payload.js';
import { refOf, type PubSubCore } from '../pubsub/pubsub-core.js';
import { groupKey } from '../pubsub/router.js';
import { isGroup, type RouteEntry } from '../pubsub/subscription.js';
import type { BusEvent, BusMessage, Track } from './bus-frames.js';

/** How a receiving node answers the publisher's node. */
export interface ReportSink {
  report(track: Track, receivers: ReceiverRef[], dropped: ReceiverRef[], unnamed?: number): void;
  event(track: Track, index: number, what: BusEvent['what'], reason?: string, data?: Uint8Array): void;
}

/**
 * Delivers a message another node published to this node's subscribers: every plain
 * subscription matching its topic, and the queue groups the publishing node chose this node for.
 */
export function deliverFromBus(core: PubSubCore, m: BusMessage, sink: ReportSink): void {
  const route = core.router.match(m.topic);
  const entries = route.entries.filter((e) => !isGroup(e) || m.groups.includes(groupKey(e.name, e.pattern)));
  const payload = new Payload(m.data, msgpackCodec);
  if (route.json) {
    try {
      payload.jsonData();
    } catch {
      // The publisher's node converts before it sends when one of its own needs it; not when only we do.
      if (m.track) sink.report(m.track, [], []);
      return;
    }
  }
  const message = new OutboundMessage(m.topic, m.mid, payload, entries.length, m.hdr);
  const track = m.track;
  if (!track) {
    core.fanOut(message, entries, false);
    return;
  }
  if (track.stage === 'submission') {
    const dropped = core.fanOut(message, entries, true) ?? [];
    sink.report(track, [], dropped, entries.length - dropped.length);
    return;
  }
  deliverTracked(core, entries, message, track, sink);
}

function deliverTracked(core: PubSubCore, entries: RouteEntry[], message: OutboundMessage, track: Track, sink: ReportSink): void {
  const owner = new RemoteTags(track, sink);
  const receivers: ReceiverRef[] = [];
  const dropped: ReceiverRef[] = [];
  const ack = track.stage as 'delivery' | 'processing';
  for (const entry of entries) {
    const sub = isGroup(entry) ? entry.pick(message) : entry;
    if (sub.conn.wouldDrop(message)) {
      sub.conn.deliver(sub.sid, message);
      dropped.push(refOf(sub));
      continue;
    }
    const tag = owner.add(sub.conn, receivers.length);
    receivers.push(refOf(sub));
    sub.conn.deliver(sub.sid, message, { tag, ack, reply: track.reply });
  }
  core.count(entries.length, dropped.length);
  sink.report(track, receivers, dropped);
  owner.expire(track.timeoutMs);
}

/** The receivers of one remote publish on this node: their rcv/ack/nack go back to the publisher's node. */
class RemoteTags implements TagOwner {
  private readonly held: [Connection, number][] = [];

  constructor(private readonly track: Track, private readonly sink: ReportSink) {}

  get publisherCodec(): 'msgpack' | 'json' {
    return this.track.codec;
  }

  add(conn: Connection, index: number): number {
    const tag = conn.trackTag(this, index);
    this.held.push([conn, tag]);
    return tag;
  }

  /** Once the publisher's receipt has timed out nobody waits: late acks are ignored quietly. */
  expire(timeoutMs: number): void {
    const timer = setTimeout(() => { for (const [conn, tag] of this.held) conn.releaseTag(tag); }, timeoutMs + 1_000);
    timer.unref();
  }

  delivered(index: number): void {
    this.sink.event(this.track, index, 'd');
  }

  processed(index: number, reply?: Payload): void {
    this.sink.event(this.track, index, 'p', undefined, reply?.packedData());
  }

  rejected(index: number, reason?: string): void {
    this.sink.event(this.track, index, 'r', reason);
  }

  lost(index: number): void {
    this.sink.event(this.track, index, 'l');
  }
}
