import type { Connection } from '../connection.js';
import type { OutboundMessage } from './outbound-message.js';

/** One subscription of one connection; a member of a group when `group` is set. */
export interface Subscription {
  readonly conn: Connection;
  readonly sid: number;
  readonly pattern: string;
  readonly group?: string;
  /** A consumer of this durable subscription (queue), not a route in the topic trie. */
  readonly durable?: string;
  /** A reader of this replayable stream (server/pubsub/streams/), not a route in the topic trie either. */
  readonly stream?: string;
}

/**
 * Competing consumers: subscriptions sharing a group name and pattern. Each message goes to
 * one member, so the group counts as one receiver.
 */
export class Group {
  readonly members: Subscription[] = [];
  private next = 0;

  constructor(readonly name: string, readonly pattern: string) {}

  /**
   * Round-robin, skipping members whose connection would drop `message` (over its pending-bytes
   * limit), so a slow member does not collect drops while another could take the message.
   */
  pick(message: OutboundMessage): Subscription {
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const member = this.members[(this.next + i) % n]!;
      if (!member.conn.wouldDrop(message)) {
        this.next = (this.next + i + 1) % n;
        return member;
      }
    }
    const member = this.members[this.next % n]!;
    this.next = (this.next + 1) % n;
    return member;
  }
}

export type RouteEntry = Subscription | Group;

export function isGroup(entry: RouteEntry): entry is Group {
  return entry instanceof Group;
}
