import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TopicTrie } from '../pubsub/topic-trie.js';

/** A record every node knows: a name, and the pattern it is routed by (null: routed by none). */
export interface Registered {
  readonly name: string;
  readonly pattern: string | null;
}

/**
 * Records of the whole cluster (queues, streams) known on every node: a hash of them and a
 * version in Redis, read together. A persistent publish is routed by the trie, and the publish
 * script checks the version it was routed by, so a record created on another node a moment ago
 * is never missed. Changes arrive on a channel; a reload after a reconnect catches up with what
 * was announced meanwhile.
 */
export class VersionedRegistry<T extends Registered> {
  readonly byName = new Map<string, T>();
  private trie = new TopicTrie<T>();
  /** The version of the hash that `byName` reflects. */
  version = '0';
  private loading: Promise<void> | undefined;
  /** A reload asked for while one runs: it may have read before the change, so another follows. */
  private next: Promise<void> | undefined;

  constructor(
    protected readonly redis: Redis,
    private readonly log: Logger,
    private readonly keys: { readonly version: string; readonly hash: string; readonly what: string },
    /** A record changed (undefined: deleted), whoever changed it; `before` is what this node knew. */
    private readonly changed: (name: string, now: T | undefined, before: T | undefined) => void,
  ) {}

  /** Reads every record and the version, in one transaction, so they agree. */
  reload(): Promise<void> {
    if (this.loading) {
      this.next ??= this.loading.catch(() => undefined).then(() => {
        this.next = undefined;
        return this.reload();
      });
      return this.next;
    }
    this.loading = (async () => {
      try {
        const replies = await this.redis.multi().get(this.keys.version).hgetall(this.keys.hash).exec();
        const version = (replies?.[0]?.[1] as string | null) ?? '0';
        const all = (replies?.[1]?.[1] ?? {}) as Record<string, string>;
        const before = new Map(this.byName);
        this.byName.clear();
        this.trie = new TopicTrie();
        for (const json of Object.values(all)) this.install(JSON.parse(json) as T);
        this.version = version;
        for (const [name, old] of before) if (!this.byName.has(name)) this.changed(name, undefined, old);
        for (const [name, record] of this.byName) this.changed(name, record, before.get(name));
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /**
   * A node announced a change (or one may have been missed): everything is read again, which is
   * simpler than ordering the read of one record against the version.
   */
  reloadInBackground(): void {
    this.reload().catch((err: unknown) => this.log.warn({ err }, `reloading cluster ${this.keys.what} failed; retried on the next change or publish`));
  }

  match(topic: string): T[] {
    return this.trie.match(topic);
  }

  install(record: T): void {
    this.uninstall(record.name);
    this.byName.set(record.name, record);
    if (record.pattern !== null) this.trie.add(record.pattern, record);
  }

  uninstall(name: string): void {
    const old = this.byName.get(name);
    if (!old) return;
    this.byName.delete(name);
    if (old.pattern !== null) this.trie.remove(old.pattern, old);
  }
}
