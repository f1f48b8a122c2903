import type { Logger } from 'pino';
import { LindenError } from '../protocol/errors.js';
import type { PubFrame, WillFrame } from '../protocol/frames.js';
import { LeaseHeap, type Lease } from '../protocol/lease-heap.js';
import { assertTopic } from '../protocol/topics.js';
import type { Connection } from './connection.js';
import { Payload } from './pubsub/payload.js';

/**
 * What a will needs once its connection is gone: the `pub` it becomes, and the part of the
 * connection the publish path reads for a `pub` without a receipt (its codec, for the payload's
 * encoding, and its payload limit). A stand-in rather than the closed Connection, so a will
 * waiting out its delay holds a few fields, not a socket's worth of objects.
 */
export interface ConnectionWill {
  readonly frame: PubFrame;
  readonly delay: number;
  /** The client's key (user and `hello.session`), or undefined when it gave no session. */
  readonly key: string | undefined;
}

/** The few fields of a closed connection the publish path reads for a `pub` with ack 'none'. */
export type WillPublisher = Pick<Connection, 'id' | 'codec' | 'maxMessageBytes' | 'state' | 'user'>;

interface Pending {
  readonly will: ConnectionWill;
  readonly publisher: WillPublisher;
  lease: Lease<Pending> | undefined;
}

/** Publishes a will's `pub` through the broker's normal publish path (PubSubCore.publish). */
export type PublishWill = (publisher: WillPublisher, frame: PubFrame) => void;

/**
 * Last wills (protocol.md §4.8): the message a client leaves with the broker in `hello.will`,
 * published for it when its connection ends without a clean close (a close with 1000 from the
 * client). Wills waiting out their `delay` share one timer on a heap (DESIGN.md §5 "Time"), on a
 * monotonic clock: they live in memory only. A client is recognised by its user and the
 * `hello.session` id it sends in every hello: coming back within the delay cancels the pending
 * will, and a newer connection of the same client takes over from an older one the broker has
 * not yet found dead, whose will is then dropped (the client is evidently alive).
 *
 * Cluster mode: the will is published through the normal path, which fans out to every node. A
 * hello with a session is announced to the other nodes over the bus, so a client that comes back
 * to another node within the delay cancels its will there too; with Redis away that message is
 * lost and the will is published when its delay ends.
 */
export class Wills {
  /** Open connections with a will and a session, by client key. */
  private readonly live = new Map<string, Connection>();
  /** Wills waiting out their delay; those with a key are also in `byKey`. */
  private readonly pending = new Set<Pending>();
  private readonly byKey = new Map<string, Pending>();
  private readonly delays = new LeaseHeap<Pending>((p) => this.due(p), undefined, () => performance.now());
  /** `stopping`: the broker stops, so no will waits any more; `stopped`: the broker closes the rest itself, no will is published. */
  private phase: 'running' | 'stopping' | 'stopped' = 'running';
  readonly stats = { published: 0, cancelled: 0, dropped: 0 };
  /** Cluster mode: tells the other nodes that the client of this key said hello here. */
  returnedElsewhere: ((key: string) => void) | undefined;

  constructor(private readonly publish: PublishWill, private readonly log: Logger) {}

  /** Wills waiting out their delay now. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Checks a `hello.will` before `welcome`: a topic a `pub` could have, that the user may publish
   * on, and a payload within the connection's maxMessageBytes (negotiated already).
   */
  check(conn: Connection, will: WillFrame): void {
    assertTopic(will.topic);
    if (!conn.permissions.may('publish', will.topic)) {
      const subject = will.topic.slice(0, 512);
      throw new LindenError('PERMISSION_DENIED', `not allowed to publish the will on "${will.topic.slice(0, 64)}"`, { action: 'publish', subject, field: 'will.topic' });
    }
    const bytes = new Payload(will.data, conn.codec).byteLength();
    const limit = conn.maxMessageBytes;
    if (bytes > limit) {
      throw new LindenError('MESSAGE_TOO_LARGE', `will payload of ${bytes} bytes exceeds maxMessageBytes (${limit})`, { bytes, limit, field: 'will.data' });
    }
  }

  /** A connection was welcomed: the client's earlier will is off, and this one's (checked) is held. */
  arrived(conn: Connection, session: string | undefined, will: WillFrame | undefined): void {
    const key = session === undefined ? undefined : keyOf(conn.user, session);
    if (key !== undefined) {
      this.returned(key);
      this.returnedElsewhere?.(key);
    }
    if (will === undefined) return;
    const frame: PubFrame = { t: 'pub', topic: will.topic, data: will.data };
    if (will.mode === 'persistent') frame.mode = 'persistent';
    if (will.retain === true) frame.retain = true;
    conn.will = { frame, delay: will.delay ?? 0, key };
    if (key !== undefined) this.live.set(key, conn);
  }

  /**
   * The client of `key` said hello (here, or on another node of the cluster): its will waiting out
   * its delay is cancelled, and an older connection of it that the broker has not found dead yet
   * loses its will (the client is evidently alive).
   */
  returned(key: string): void {
    const waiting = this.byKey.get(key);
    if (waiting) {
      this.cancel(waiting);
      this.stats.cancelled++;
    }
    const before = this.live.get(key);
    if (before !== undefined) {
      if (before.will !== undefined) this.stats.cancelled++;
      before.will = undefined;
      this.live.delete(key);
    }
  }

  /**
   * A connection ended (released): its will is dropped after a clean close, published now, or
   * waits out its delay. Called for every connection; one field read for those without a will.
   */
  ended(conn: Connection, clean: boolean): void {
    const will = conn.will;
    if (will === undefined) return;
    conn.will = undefined;
    if (will.key !== undefined && this.live.get(will.key) === conn) this.live.delete(will.key);
    if (clean || this.phase === 'stopped') {
      this.stats.dropped++;
      return;
    }
    const publisher: WillPublisher = { id: conn.id, codec: conn.codec, maxMessageBytes: conn.maxMessageBytes, state: 'closed', user: conn.user };
    if (will.delay === 0 || this.phase === 'stopping') {
      // After the release that called this has finished: publishing delivers to other connections.
      queueMicrotask(() => this.publishNow(publisher, will.frame));
      return;
    }
    const p: Pending = { will, publisher, lease: undefined };
    if (will.key !== undefined) {
      const older = this.byKey.get(will.key);
      if (older) this.cancel(older);
      this.byKey.set(will.key, p);
    }
    this.pending.add(p);
    p.lease = this.delays.add(p, performance.now() + will.delay);
  }

  /**
   * The broker begins to stop: every will waiting out its delay is published now, as is, from now
   * on, the will of a connection lost before the broker closes it (there is no later to wait for).
   * Published before the store is flushed, so a persistent will is stored.
   */
  stopping(): void {
    if (this.phase !== 'running') return;
    this.phase = 'stopping';
    this.delays.stop();
    for (const p of [...this.pending]) {
      this.cancel(p);
      this.publishNow(p.publisher, p.will.frame);
    }
  }

  /** The broker closes its connections itself: that is no client's failure, so their wills are dropped. */
  stop(): void {
    this.stopping();
    this.phase = 'stopped';
    this.live.clear();
  }

  private due(p: Pending): void {
    p.lease = undefined;
    this.cancel(p);
    this.publishNow(p.publisher, p.will.frame);
  }

  private cancel(p: Pending): void {
    this.pending.delete(p);
    if (p.will.key !== undefined && this.byKey.get(p.will.key) === p) this.byKey.delete(p.will.key);
    if (p.lease) this.delays.remove(p.lease);
    p.lease = undefined;
  }

  private publishNow(publisher: WillPublisher, frame: PubFrame): void {
    try {
      this.publish(publisher, frame);
      this.stats.published++;
    } catch (err) {
      // A limit of the moment (QUEUE_FULL, STORE_FULL): nobody is left to answer, so the log says it.
      this.log.warn({ err, conn: publisher.id, topic: frame.topic.slice(0, 128) }, 'will not published');
    }
  }
}

/** A client: its user (none, anonymous or named) and its session id. */
function keyOf(user: string | null | undefined, session: string): string {
  return `${user === undefined ? '' : user === null ? '\u0001' : 'u' + user}\u0000${session}`;
}
