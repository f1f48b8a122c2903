import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Subscription } from '../pubsub/subscription.js';
import { groupKey } from '../pubsub/router.js';
import { HEARTBEAT_MS, INTEREST_CHANNEL, NODE_TTL_MS, NODES_KEY, groupInterest, interestKey, plainInterest } from './keys.js';
import type { RemoteInterest } from './remote-interest.js';
import { CHANGE, HEARTBEAT, LEAVE, REPLACE } from './scripts.js';

type Scripted = Redis & {
  lindenChange(...args: (string | number)[]): Promise<number>;
  lindenReplace(...args: (string | number)[]): Promise<number>;
  lindenHeartbeat(...args: (string | number)[]): Promise<string[]>;
  lindenLeave(...args: (string | number)[]): Promise<number>;
};

/**
 * Keeps this node's subscription interest in Redis (and renewed, so a dead node's expires) and
 * the other nodes' interest in `remote`, from snapshots and the notification channel.
 */
export class InterestSync {
  /** Local subscriptions per interest key: what Redis must hold for this node. */
  private readonly counts = new Map<string, number>();
  private readonly changed = new Set<string>();
  /** The write of the changes made since the last one, queued. */
  private written: Promise<void> | undefined;
  /** A write failed (Redis away): the whole interest is written again once it is back. */
  private stale = true;
  private readonly redis: Scripted;
  private timer: NodeJS.Timeout | undefined;
  private readonly loading = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(redis: Redis, private readonly node: string, private readonly remote: RemoteInterest, private readonly log: Logger) {
    this.redis = redis as Scripted;
    this.redis.defineCommand('lindenChange', { numberOfKeys: 2, lua: CHANGE });
    this.redis.defineCommand('lindenReplace', { numberOfKeys: 2, lua: REPLACE });
    this.redis.defineCommand('lindenHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    this.redis.defineCommand('lindenLeave', { numberOfKeys: 2, lua: LEAVE });
  }

  start(): void {
    this.timer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /**
   * Resolves once Redis holds the interest and the other nodes have been notified (never
   * rejects): the subscription's `ok` waits for it, so a publish on another node sent after
   * the `ok` finds it. Undefined while Redis is away: the subscription works locally meanwhile.
   */
  added(sub: Subscription): Promise<void> | undefined {
    this.bump(keyOf(sub), 1);
    return this.stale ? undefined : this.written;
  }

  removed(sub: Subscription): void {
    this.bump(keyOf(sub), -1);
  }

  private bump(key: string, by: number): void {
    const n = (this.counts.get(key) ?? 0) + by;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
    this.changed.add(key);
    if (this.written) return;
    // A client subscribing to many patterns at once makes one write, not one each.
    this.written = new Promise((resolve) => setImmediate(() => void this.flush().finally(resolve)));
  }

  private async flush(): Promise<void> {
    this.written = undefined;
    if (this.stale) return; // the next successful heartbeat writes everything
    const changes: Record<string, number> = {};
    const pairs: (string | number)[] = [];
    for (const key of this.changed) {
      const n = this.counts.get(key) ?? 0;
      changes[key] = n;
      pairs.push(key, n);
    }
    this.changed.clear();
    if (pairs.length === 0) return;
    try {
      await this.redis.lindenChange(NODES_KEY, interestKey(this.node), this.node, NODE_TTL_MS, INTEREST_CHANNEL, JSON.stringify(changes), ...pairs);
    } catch {
      this.stale = true;
    }
  }

  /** Writes this node's whole interest again (at start, and when Redis lost it or a write failed). */
  private async replace(): Promise<void> {
    this.changed.clear();
    const pairs: (string | number)[] = [];
    for (const [key, n] of this.counts) pairs.push(key, n);
    await this.redis.lindenReplace(NODES_KEY, interestKey(this.node), this.node, NODE_TTL_MS, INTEREST_CHANNEL, ...pairs);
    this.stale = false;
    if (this.changed.size > 0) void this.flush(); // changed while the snapshot was on its way
  }

  /** Renews this node, learns which nodes live, and catches up on what was missed. */
  async heartbeat(): Promise<void> {
    let reply: string[];
    try {
      if (this.stale) await this.replace();
      if (this.timer === undefined) return;
      reply = await this.redis.lindenHeartbeat(NODES_KEY, interestKey(this.node), this.node, NODE_TTL_MS, INTEREST_CHANNEL, interestKey(''));
      if (reply[0] === '0') {
        this.stale = true;
        return void (await this.replace());
      }
    } catch {
      this.stale = true;
      return;
    }
    const live = new Map<string, number>();
    for (let i = 1; i + 1 < reply.length; i += 2) live.set(reply[i]!, Number(reply[i + 1]));
    for (const node of this.remote.nodeIds) if (!live.has(node)) this.forget(node);
    // A node unknown here, or known at another `#seq` than Redis holds: a notification was
    // missed (pub/sub delivers at most once), or its interest expired and started again at 1
    // while this view was ahead; either way it is read again (seen in CI: a subscription on
    // another node never counted). A change still on its way costs one needless read.
    for (const [node, seq] of live) {
      if (node === this.node) continue;
      const known = this.remote.seqOf(node);
      if (known === undefined || (known !== seq && !this.loading.has(node))) void this.load(node);
    }
  }

  /** After notifications may have been missed (the subscriber reconnected): every node is read again. */
  async resync(): Promise<void> {
    for (const node of this.remote.nodeIds) void this.load(node);
    await this.heartbeat();
  }

  /** A message of the notification channel. */
  notified(text: string): void {
    const first = text.indexOf(' ');
    const second = text.indexOf(' ', first + 1);
    const seq = Number(text.slice(0, first));
    const node = text.slice(first + 1, second);
    const body = text.slice(second + 1);
    if (node === this.node) return;
    if (body === '-') return this.forget(node);
    if (body === '*' || !this.remote.apply(node, seq, JSON.parse(body) as Record<string, number>)) void this.load(node);
  }

  /** Everything another node holds, from Redis; notifications that raced it are covered by its `#seq`. */
  private load(node: string): Promise<void> {
    let loading = this.loading.get(node);
    if (loading) {
      // The snapshot on its way may predate what was just notified: read again after it.
      this.again.add(node);
      return loading;
    }
    loading = this.redis.hgetall(interestKey(node)).then(
      (hash) => {
        if (Object.keys(hash).length === 0) this.forget(node);
        else {
          if (this.remote.seqOf(node) === undefined) this.log.info({ node }, 'cluster node joined');
          this.remote.load(node, hash);
        }
      },
      () => undefined, // Redis away: the next heartbeat tries again
    ).finally(() => {
      this.loading.delete(node);
      if (this.again.delete(node)) void this.load(node);
    });
    this.loading.set(node, loading);
    return loading;
  }

  private forget(node: string): void {
    if (this.remote.seqOf(node) === undefined) return;
    this.remote.drop(node);
    this.log.info({ node }, 'cluster node left');
  }

  /** The node stops: its interest goes at once rather than when it expires. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.stale = true; // and so no change is written after the leave
    await this.redis.lindenLeave(NODES_KEY, interestKey(this.node), this.node, INTEREST_CHANNEL).catch(() => undefined);
  }
}

function keyOf(sub: Subscription): string {
  return sub.group === undefined ? plainInterest(sub.pattern) : groupInterest(groupKey(sub.group, sub.pattern));
}
