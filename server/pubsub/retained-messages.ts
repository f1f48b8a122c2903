import type { Logger } from 'pino';
import { packr, msgpackCodec } from '../../protocol/codec.js';
import { LindenError } from '../../protocol/errors.js';
import type { Headers } from '../../protocol/headers.js';
import { asStoreFull, StoreRoom } from '../store/store-room.js';
import type { Key, Store, StoreWrite } from '../store/store.js';
import type { Connection } from '../connection.js';
import { OutboundMessage, RETAINED_DELIVERY } from './outbound-message.js';
import type { Subscription } from './subscription.js';
import { Payload } from './payload.js';
import { TopicTrie } from './topic-trie.js';
import { byCodeUnits, ownCopy } from '../strings.js';

/** Store keys of retained messages: ['rt', topic]. */
export const RETAINED_PREFIX: Key = ['rt'];

/** What a persistent retained message is stored as. */
interface RetainedRecord { mid: string; data: Uint8Array; hdr?: Headers; time: number }

/** The last message of one concrete topic, kept for subscriptions that ask for it. */
export interface RetainedEntry {
  readonly topic: string;
  readonly mid: string;
  /** MessagePack bytes of its own (not a slice of the frame it arrived in). */
  readonly payload: Payload;
  readonly hdr: Headers | undefined;
  /** What it counts toward maxRetainedBytes: payload bytes plus topic length. */
  readonly bytes: number;
  /** Stored in the store (and so kept across restarts) rather than in memory only. */
  readonly persistent: boolean;
  /** When it was published, in ms since the epoch. */
  readonly time: number;
  /** Its `msg`, encoded once for every subscription it goes to; made at the first. */
  message: OutboundMessage | undefined;
}

/** The retained message of a topic as the admin API lists it. */
export interface RetainedView { topic: string; bytes: number; mode: 'persistent' | 'transient'; time: number; mid: string }

/** Lone surrogates cannot be store keys (server/store/keys.ts); a persistent retain on such a topic is refused. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Retained last values (issue 17), one per concrete topic. The maps here are the authority: a
 * subscription's snapshot reads them synchronously, in the turn that registers it, so no store
 * read can open a gap between the snapshot and the live messages. The store is only the record
 * that persistent ones are rebuilt from at start.
 */
export class RetainedMessages {
  private readonly byTopic = new Map<string, RetainedEntry>();
  /** The same topics, for walking by pattern. */
  private readonly topics = new TopicTrie<string>();
  private bytes = 0;
  private readonly room: StoreRoom;

  constructor(
    private readonly limits: { readonly maxRetainedTopics: number; readonly maxRetainedBytes: number; readonly maxStoreBytes: number | undefined },
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.room = StoreRoom.of(store, limits.maxStoreBytes);
  }

  get count(): number {
    return this.byTopic.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Rebuilds the persistent retained messages from the store, at start. */
  async recover(): Promise<number> {
    for (const [key, value] of await this.store.scan(RETAINED_PREFIX)) {
      const topic = key[1] as string;
      const r = value as RetainedRecord;
      this.install(entryOf(topic, r.mid, new Payload(r.data, msgpackCodec), r.hdr, true, r.time));
    }
    return this.byTopic.size;
  }

  /**
   * Throws what a `keep` of this message would fail with, before anything of the publish
   * happened: RETAINED_FULL past a limit, STORE_FULL for a persistent one that the store has
   * no room for, INVALID_TOPIC for a persistent one the store cannot key. `clears`: isEmpty(payload),
   * asked once by the caller for this and keep().
   */
  check(topic: string, payload: Payload, clears: boolean, persistent: boolean): void {
    if (clears) return;
    const old = this.byTopic.get(topic);
    if (old === undefined && this.byTopic.size >= this.limits.maxRetainedTopics) {
      throw new LindenError('RETAINED_FULL', `the broker retains messages on ${this.byTopic.size} topics, its maxRetainedTopics: "${topic.slice(0, 64)}" was not retained`, { limit: 'maxRetainedTopics' });
    }
    const bytes = payload.byteLength() + topic.length;
    if (this.bytes - (old?.bytes ?? 0) + bytes > this.limits.maxRetainedBytes) {
      throw new LindenError('RETAINED_FULL', `retaining ${bytes} more bytes would pass maxRetainedBytes (${this.limits.maxRetainedBytes})`, { limit: 'maxRetainedBytes' });
    }
    if (!persistent) return;
    if (LONE_SURROGATE.test(topic)) throw new LindenError('INVALID_TOPIC', 'a persistent retained message\'s topic cannot hold lone surrogates', { topic: topic.slice(0, 64) });
    this.room.check(bytes);
  }

  /**
   * Makes this message the topic's retained one, or clears the topic when `clears` (an empty
   * payload, as check() was told; check() passed in this same turn). Returns the store's promise when the store changes
   * and someone may wait for it: a persistent publish's receipt waits for its record.
   */
  keep(topic: string, mid: string, payload: Payload, clears: boolean, hdr: Headers | undefined, persistent: boolean): Promise<void> | undefined {
    const old = this.byTopic.get(topic);
    if (clears) {
      if (old === undefined) return undefined;
      this.uninstall(old);
      return old.persistent ? this.write([{ key: [...RETAINED_PREFIX, topic] }], () => this.restore(topic, undefined, old)) : undefined;
    }
    const entry = entryOf(ownCopy(topic), ownCopy(mid), new Payload(Buffer.from(payload.packedData()), msgpackCodec), hdr, persistent, Date.now());
    if (old) this.uninstall(old);
    this.install(entry);
    if (persistent) {
      const record: RetainedRecord = { mid: entry.mid, data: entry.payload.packedData(), time: entry.time };
      if (hdr !== undefined) record.hdr = hdr;
      return this.write([{ key: [...RETAINED_PREFIX, entry.topic], value: record }], () => this.restore(topic, entry, old));
    }
    // A transient value replaces a stored one: the stored one must not come back at the next start.
    // Nobody waits for that delete, and its failure is logged, not the publish's.
    if (old?.persistent) {
      try {
        this.write([{ key: [...RETAINED_PREFIX, topic] }], () => undefined)?.catch(() => undefined);
      } catch (err) {
        this.log.error({ err }, 'store delete of a replaced retained message failed');
      }
    }
    return undefined;
  }

  /** The retained messages on topics `pattern` matches, in topic order. */
  matching(pattern: string): RetainedEntry[] {
    const topics = this.topics.matchPattern(pattern).sort(byCodeUnits);
    return topics.map((t) => this.byTopic.get(t)!);
  }

  /**
   * Delivers to a new subscription the retained messages it matches, with `retained: true`, in
   * topic order; returns how many were sent and dropped. Each topic is checked against the
   * user's permissions on its own: a pattern allowed as a whole still gets nothing from a
   * concrete topic its user may not subscribe to.
   */
  deliverTo(conn: Connection, sub: Subscription): [sent: number, dropped: number] {
    let sent = 0;
    let dropped = 0;
    for (const entry of this.matching(sub.pattern)) {
      if (!receivesRetained(conn, entry.topic, entry.payload)) continue;
      sent++;
      if (!conn.deliver(sub.sid, this.messageOf(entry), RETAINED_DELIVERY)) dropped++;
    }
    return [sent, dropped];
  }

  /** `entry`'s `msg`, made once. */
  messageOf(entry: RetainedEntry): OutboundMessage {
    return (entry.message ??= new OutboundMessage(entry.topic, entry.mid, entry.payload, 2, entry.hdr));
  }

  /** The admin API's list, of the topics `pattern` matches. */
  list(pattern: string): RetainedView[] {
    return this.matching(pattern).map((e) => ({ topic: e.topic, bytes: e.bytes, mode: e.persistent ? 'persistent' : 'transient', time: e.time, mid: e.mid }));
  }

  /** A store write; on failure the index goes back to what the store holds, unless a later publish changed the topic since. */
  private write(writes: StoreWrite[], undo: () => void): Promise<void> | undefined {
    let written: Promise<void> | undefined;
    try {
      written = this.store.write(writes);
    } catch (err) {
      undo();
      throw asStoreFull(err);
    }
    return written?.catch((err: unknown) => {
      const e = asStoreFull(err);
      this.room.failed(e);
      this.log.error({ err: e }, 'store write of a retained message failed');
      undo();
      throw e;
    });
  }

  /** Puts `old` back in place of `current` (undefined: the topic had none), if the topic still holds `current`. */
  private restore(topic: string, current: RetainedEntry | undefined, old: RetainedEntry | undefined): void {
    const now = this.byTopic.get(topic);
    if (now !== current) return;
    if (now) this.uninstall(now);
    if (old) this.install(old);
  }

  private install(entry: RetainedEntry): void {
    this.byTopic.set(entry.topic, entry);
    this.topics.add(entry.topic, entry.topic);
    this.bytes += entry.bytes;
  }

  private uninstall(entry: RetainedEntry): void {
    this.byTopic.delete(entry.topic);
    this.topics.remove(entry.topic, entry.topic);
    this.bytes -= entry.bytes;
  }
}

/**
 * Whether a subscription's snapshot gives `conn` the retained message on `topic`: each topic is
 * checked against the user's permissions on its own, and a MessagePack payload that is no JSON
 * value cannot go to a JSON client (as for live ones, protocol.md §3.3). Cluster mode asks too.
 */
export function receivesRetained(conn: Connection, topic: string, payload: Payload): boolean {
  if (!conn.permissions.may('subscribe', topic)) return false;
  return conn.codec.name !== 'json' || payload.convertible();
}

function entryOf(topic: string, mid: string, payload: Payload, hdr: Headers | undefined, persistent: boolean, time: number): RetainedEntry {
  return { topic, mid, payload, hdr, bytes: payload.byteLength() + topic.length, persistent, time, message: undefined };
}

/** Longest encoding of an empty value: an empty bin8 or str8 is 2 bytes, nil 1. */
const MOST_EMPTY_BYTES = 16;

/**
 * An empty payload clears a topic's retained message: no bytes, an empty byte array, the empty
 * string, or null. Only publishes with `retain` ask; a payload longer than an empty value's
 * encoding is answered without decoding it.
 */
export function isEmpty(payload: Payload): boolean {
  if (payload.byteLength() > MOST_EMPTY_BYTES) return false;
  const packed = payload.packedData();
  if (packed.length === 0) return true;
  let value: unknown;
  try {
    value = packr.unpack(packed);
  } catch {
    return false;
  }
  return value === null || value === undefined || value === '' || (value instanceof Uint8Array && value.length === 0);
}

