import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { QueueSettings } from '../../../protocol/frames.js';
import { doesNotExist } from '../../../protocol/names.js';
import { TopicTrie } from '../../pubsub/topic-trie.js';
import { QUEUE_DEFAULTS, type QueueConfig } from '../../pubsub/durable/queue-records.js';
import { DECLARE, REMOVE } from './stream-scripts.js';
import { QUEUES_CHANNEL, QUEUES_HASH, QUEUES_VERSION, streamKey } from './redis-keys.js';

/** A queue as every node knows it (the hash linden:queues). Dead-letter queues have pattern null. */
export interface QueueDefinition {
  name: string;
  pattern: string | null;
  config: QueueConfig;
  createdAt: number;
}

/**
 * Every queue of the cluster, known on every node: a persistent publish is routed here, by the
 * trie, and the publish script checks the version it was routed by (stream-scripts.ts PUBLISH),
 * so a queue created on another node a moment ago is never missed. Changes arrive on a channel;
 * a reload after a reconnect catches up with what was announced meanwhile.
 */
export class QueueDirectory {
  readonly queues = new Map<string, QueueDefinition>();
  private trie = new TopicTrie<QueueDefinition>();
  /** The version of linden:queues that `queues` reflects. */
  version = '0';
  private loading: Promise<void> | undefined;
  /** A reload asked for while one runs: it may have read before the change, so another follows. */
  private next: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    /** A queue changed (undefined: deleted), whoever changed it. */
    private readonly changed: (name: string, def: QueueDefinition | undefined) => void,
  ) {}

  /** Reads every queue and the version, in one transaction, so they agree. */
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
        const replies = await this.redis.multi().get(QUEUES_VERSION).hgetall(QUEUES_HASH).exec();
        const version = (replies?.[0]?.[1] as string | null) ?? '0';
        const all = (replies?.[1]?.[1] ?? {}) as Record<string, string>;
        const before = new Set(this.queues.keys());
        this.queues.clear();
        this.trie = new TopicTrie();
        for (const [name, json] of Object.entries(all)) this.install(JSON.parse(json) as QueueDefinition);
        this.version = version;
        for (const name of before) if (!this.queues.has(name)) this.changed(name, undefined);
        for (const [name, def] of this.queues) this.changed(name, def);
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /**
   * A node announced a change (or one may have been missed): everything is read again, which is
   * simpler than ordering the read of one queue against the version.
   */
  reloadInBackground(): void {
    this.reload().catch((err: unknown) => this.log.warn({ err }, 'reloading cluster queues failed; retried on the next change or publish'));
  }

  match(topic: string): QueueDefinition[] {
    return this.trie.match(topic);
  }

  get(name: string): QueueDefinition {
    const def = this.queues.get(name);
    if (!def) throw new LindenError('NOT_FOUND', doesNotExist('queue', name), { name });
    return def;
  }

  /**
   * Creates the queue, or checks an existing one has this pattern (and these settings, unless
   * `mayConfigure`, which changes them): as DurableCore.declare, with the record in Redis.
   */
  async declare(name: string, pattern: string | null, settings: QueueSettings, mayConfigure: boolean): Promise<QueueDefinition> {
    const config = { ...QUEUE_DEFAULTS, ...defined(settings) };
    const fresh: QueueDefinition = { name, pattern, config, createdAt: Date.now() };
    const existing = await DECLARE.run(this.redis, [QUEUES_HASH, QUEUES_VERSION, streamKey(name)], [name, JSON.stringify(fresh), 'create', QUEUES_CHANNEL]);
    if (existing === null) {
      this.install(fresh);
      return fresh;
    }
    const def = JSON.parse(existing as string) as QueueDefinition;
    if (pattern !== null && def.pattern !== null && def.pattern !== pattern) {
      throw new LindenError('QUEUE_CONFLICT', `queue "${name}" exists with pattern "${def.pattern}", not "${pattern}"`, { name, pattern: def.pattern });
    }
    const wanted = { ...def.config, ...defined(settings) };
    const differs = (Object.keys(wanted) as (keyof QueueConfig)[]).find((k) => wanted[k] !== def.config[k]);
    if (differs === undefined) return def;
    if (!mayConfigure) {
      const value = def.config[differs];
      throw new LindenError('QUEUE_CONFLICT', `queue "${name}" has ${differs} ${value}, not ${wanted[differs]}: a consumer attaches with the queue's settings or none; qcreate changes them`, { name, setting: differs, value });
    }
    const updated = { ...def, config: wanted };
    await DECLARE.run(this.redis, [QUEUES_HASH, QUEUES_VERSION, streamKey(name)], [name, JSON.stringify(updated), 'put', QUEUES_CHANNEL]);
    this.install(updated);
    return updated;
  }

  /** Deletes the queue and its messages; resolves with how many messages went. */
  async remove(name: string): Promise<number> {
    const dropped = Number(await REMOVE.run(this.redis, [QUEUES_HASH, QUEUES_VERSION, streamKey(name)], [name, QUEUES_CHANNEL]));
    if (dropped < 0) throw new LindenError('NOT_FOUND', doesNotExist('queue', name), { name });
    this.uninstall(name);
    return dropped;
  }

  private install(def: QueueDefinition): void {
    this.uninstall(def.name);
    this.queues.set(def.name, def);
    if (def.pattern !== null) this.trie.add(def.pattern, def);
  }

  private uninstall(name: string): void {
    const old = this.queues.get(name);
    if (!old) return;
    this.queues.delete(name);
    if (old.pattern !== null) this.trie.remove(old.pattern, old);
  }
}

function defined(s: QueueSettings): Partial<QueueConfig> {
  const out: Partial<QueueConfig> = {};
  for (const key of Object.keys(QUEUE_DEFAULTS) as (keyof QueueConfig)[]) {
    if (s[key] !== undefined) (out as Record<string, unknown>)[key] = s[key];
  }
  return out;
}
