import { LeaseHeap, type Lease } from '../../../protocol/lease-heap.js';
import type { Store, StoreWrite } from '../../store/store.js';
import { EXPIRY_PREFIX } from './queue-records.js';

/** Index entries one sweep handles; more due wait for the next, which comes at once. */
const SWEEP = 4_096;

/**
 * The ttl index on disk (['x', expiresAt, queue, seq]): ends the ttls of messages that wait in a
 * backlog, so they leave depth and limits on time without being read into memory. Memory holds
 * one deadline: the earliest entry's. A sweep reads the entries due, lets `expire` turn each into
 * writes (the message's deletion, or only the entry's when the message is gone or in memory,
 * where its own ttl lease ends it), stores them, and only then looks for the next deadline, so it
 * never sees an entry it has already handled.
 */
export class ExpiryIndex {
  private readonly timer = new LeaseHeap<null>(() => {
    this.lease = undefined;
    this.sweep();
  });
  private lease: Lease<null> | undefined;
  private sweeping = false;
  private stopped = false;
  /** An earlier deadline that came during a sweep. */
  private dueDuringSweep = Infinity;

  constructor(
    private readonly store: Store,
    /** The writes that end one entry, and what to do once they are stored. */
    private readonly expire: (queue: string, seq: number, at: number) => { writes: StoreWrite[]; stored?: () => void },
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Arms the first deadline stored (at start). */
  start(): void {
    this.armAtFirst();
  }

  /** A message with a ttl ending at `at` was stored: a sweep is due by then. */
  due(at: number): void {
    if (!Number.isFinite(at)) return;
    if (this.sweeping) this.dueDuringSweep = Math.min(this.dueDuringSweep, at);
    else this.arm(at);
  }

  stop(): void {
    this.stopped = true;
    this.timer.stop();
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.lease && this.lease.at <= at) return;
    if (this.lease) this.timer.remove(this.lease);
    this.lease = this.timer.add(null, at);
  }

  private armAtFirst(): void {
    if (this.stopped) return; // the store may be closed
    const first = this.store.range(EXPIRY_PREFIX, { limit: 1 })[0];
    if (first) this.arm(first[0][1] as number);
  }

  private sweep(): void {
    const now = Date.now();
    const writes: StoreWrite[] = [];
    const stored: (() => void)[] = [];
    for (const [key] of this.store.range(EXPIRY_PREFIX, { limit: SWEEP })) {
      const at = key[1] as number;
      if (at > now) break;
      const ended = this.expire(key[2] as string, key[3] as number, at);
      writes.push(...ended.writes);
      if (ended.stored) stored.push(ended.stored);
    }
    const done = (): void => {
      for (const s of stored) s();
      this.sweeping = false;
      const next = this.dueDuringSweep;
      this.dueDuringSweep = Infinity;
      this.armAtFirst();
      this.arm(next);
    };
    if (writes.length === 0) return done();
    this.sweeping = true;
    const written = this.store.write(writes);
    if (!written) return done();
    written.then(done, (err: unknown) => {
      for (const s of stored) s(); // not deleted after all: readable again
      this.failed(err);
      this.sweeping = false;
      this.arm(Date.now() + 1_000); // not at once: the store just failed
    });
  }
}
