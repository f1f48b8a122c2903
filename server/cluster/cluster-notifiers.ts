import type { Redis } from 'ioredis';
import type { Notifier, SpaceEventType } from '../space/space.js';
import type { StoredTuple } from '../space/stored-tuple.js';
import { tupleOf } from './space-entries.js';
import { LEASES_KEY, SPACE_BYTES_KEY } from './keys.js';
import { SPACE_SWEEP, spaceKey } from './space-scripts.js';

const EVENT_TYPES: Record<string, SpaceEventType> = { o: 'out', i: 'in', e: 'expire' };

/** How the node's subscription connection is reached: the channels are sharded, one space each. */
export interface EventSubscriber {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
}

type Sweeping = Redis & { lindenSpaceSweep(...args: (string | number)[]): Promise<number> };

/**
 * Notify subscriptions of this node on the cluster's spaces. A space with some, on any node,
 * has the hash `n` in Redis (node -> count), which makes the scripts announce each out, take
 * and end on the space's `events` channel in the order Redis ran them; this node listens on
 * the channels of the spaces its clients watch and hands each event to the matching ones.
 *
 * So that `expire` events come when leases end, not when a read meets the tuple, a node sweeps
 * the spaces it watches when their next lease ends: it learns the lease of every new tuple from
 * its `out` event, and of older ones from the sweep itself (several nodes may sweep one space;
 * each tuple ends once).
 */
export class ClusterNotifiers {
  private readonly bySpace = new Map<string, Set<Notifier>>();
  /** Events channel -> space, for the spaces this node listens to. */
  private readonly channels = new Map<string, string>();
  /** The sweep armed per watched space, and when it runs. */
  private readonly sweeps = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly redis: Redis,
    private readonly node: string,
    private readonly subscriber: EventSubscriber,
    private readonly deliver: (n: Notifier, type: SpaceEventType, t: StoredTuple) => void,
  ) {
    redis.defineCommand('lindenSpaceSweep', { numberOfKeys: 5, lua: SPACE_SWEEP });
  }

  /** Resolves once events of the space reach this node (announced by every node from then on). */
  async add(n: Notifier): Promise<void> {
    let set = this.bySpace.get(n.space);
    if (!set) {
      this.bySpace.set(n.space, (set = new Set()));
      const channel = spaceKey(n.space, 'events');
      this.channels.set(channel, n.space);
      await this.subscriber.subscribe(channel);
    }
    set.add(n);
    await this.redis.hincrby(spaceKey(n.space, 'n'), this.node, 1);
    void this.sweep(n.space);
  }

  remove(n: Notifier): void {
    const set = this.bySpace.get(n.space);
    if (!set?.delete(n)) return;
    const key = spaceKey(n.space, 'n');
    this.redis.hincrby(key, this.node, -1).then((left) => (left <= 0 ? this.redis.hdel(key, this.node) : 0)).catch(() => undefined);
    if (set.size > 0) return;
    this.bySpace.delete(n.space);
    clearTimeout(this.sweeps.get(n.space)?.timer);
    this.sweeps.delete(n.space);
    const channel = spaceKey(n.space, 'events');
    this.channels.delete(channel);
    this.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  /** True when the channel is a space's events channel this node listens to. */
  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** The channels to subscribe to again after the subscription connection came back. */
  listened(): string[] {
    return [...this.channels.keys()];
  }

  received(channel: string, message: Buffer): void {
    const space = this.channels.get(channel);
    const type = EVENT_TYPES[String.fromCharCode(message[0]!)];
    const set = space === undefined ? undefined : this.bySpace.get(space);
    if (!set || !type) return;
    const gap = message.indexOf(0x20);
    const tid = message.subarray(1, gap).toString();
    const t = tupleOf(space!, tid, Number(tid), message.subarray(gap + 1));
    if (type === 'out' && Number.isFinite(t.expiresAt)) this.arm(space!, t.expiresAt);
    for (const n of set) {
      if (n.events.has(type) && n.template.arity === t.values.length && n.template.matches(t.values)) this.deliver(n, type, t);
    }
  }

  /** Ends the space's tuples whose lease is over (announcing them) and arms the next sweep. */
  private async sweep(space: string): Promise<void> {
    if (!this.bySpace.has(space)) return;
    clearTimeout(this.sweeps.get(space)?.timer);
    this.sweeps.delete(space);
    const next = await sweepLeases(this.redis, space, false).catch(() => Date.now() + 1_000); // Redis away: try again later
    if (next >= 0) this.arm(space, next);
  }

  private arm(space: string, at: number): void {
    const armed = this.sweeps.get(space);
    if (!this.bySpace.has(space) || (armed && armed.at <= at)) return;
    clearTimeout(armed?.timer);
    const timer = setTimeout(() => void this.sweep(space), Math.max(0, at - Date.now()) + 1);
    timer.unref();
    this.sweeps.set(space, { at, timer });
  }

  /** Stops the sweeps (the node leaves). */
  stop(): void {
    for (const { timer } of this.sweeps.values()) clearTimeout(timer);
    this.sweeps.clear();
    this.bySpace.clear();
  }
}

/**
 * Ends the space's tuples whose lease is over; with `dueOnly`, only when the space is due in
 * LEASES_KEY (-2 otherwise). The space's next lease end, or -1.
 */
export function sweepLeases(redis: Redis, space: string, dueOnly: boolean): Promise<number> {
  return (redis as Sweeping).lindenSpaceSweep(
    spaceKey(space, 't'), spaceKey(space, 'x'), spaceKey(space, 'n'), SPACE_BYTES_KEY, LEASES_KEY,
    Date.now(), spaceKey(space, 'a:'), spaceKey(space, 'events'), space, dueOnly ? '1' : '',
  );
}
