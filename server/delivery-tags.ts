import { LindenError } from '../protocol/errors.js';
import type { Payload } from './pubsub/payload.js';

/** Who waits for the rcv/ack/nack of a delivery: a publisher's receipt tracker or a durable queue. */
export interface TagOwner {
  delivered(index: number): void;
  processed(index: number, reply?: Payload): void;
  rejected(index: number, reason?: string, delay?: number): void;
  /** The receiving connection went away before it finished. */
  lost(index: number): void;
  /** The receiver needs more time (durable queues restart the ack deadline). */
  working?(index: number): void;
  /** Codec of the publisher waiting for a reply, when there is one. */
  readonly publisherCodec?: 'msgpack' | 'json';
}

export interface TagEntry {
  owner: TagOwner;
  index: number;
}

/**
 * A connection's deliveries whose owner waits for its rcv/ack, by the tag the client answers
 * with. Tags count up from 1 per connection, so a tag never handed out is told apart from one
 * whose owner has already settled.
 */
export class DeliveryTags {
  private readonly entries = new Map<number, TagEntry>();
  private next = 1;

  track(owner: TagOwner, index: number): number {
    const tag = this.next++;
    this.entries.set(tag, { owner, index });
    return tag;
  }

  /**
   * The owner behind a delivery tag, or undefined for a tag whose publish is already settled.
   * A tag never handed out is the client's mistake: UNKNOWN_ID.
   */
  entry(tag: number): TagEntry | undefined {
    const entry = this.entries.get(tag);
    if (!entry && (tag >= this.next || tag < 1)) {
      throw new LindenError('UNKNOWN_ID', `no delivery with tag ${tag} on this connection`, { tag });
    }
    return entry;
  }

  release(tag: number): void {
    this.entries.delete(tag);
  }

  /** The connection went away: every owner still waiting hears of it. */
  loseAll(): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const { owner, index } of entries) owner.lost(index);
  }
}

/** Stands in for a connection's table until its first tracked delivery (idle connections hold none). */
export const NO_TAGS = new DeliveryTags();
