import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import { doesNotExist } from '../../../protocol/names.js';
import { TopicTrie } from '../../pubsub/topic-trie.js';
import type { StreamRecord } from '../../pubsub/streams/stream-records.js';
import { STREAMS_HASH, STREAMS_VERSION } from './stream-keys.js';

/**
 * Every replayable stream of the cluster, known on every node (the hash linden:lstreams): a
 * persistent publish is routed by the trie, and the publish script checks the version it was
 * routed by, so a stream created on another node a moment ago is never missed (as QueueDirectory
 * does for queues). Changes arrive on a channel; a reload after a reconnect catches up.
 */
export class StreamRegistry {
  readonly streams = new Map<string, StreamRecord>();
  private trie = new TopicTrie<StreamRecord>();
  version = '0';
  private loading: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    /** A stream changed (undefined: deleted), whoever changed it. */
    private readonly changed: (name: string, record: StreamRecord | undefined, before: StreamRecord | undefined) => void,
  ) {}

  /** Reads every stream and the version in one transaction, so they agree. */
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
        const replies = await this.redis.multi().get(STREAMS_VERSION).hgetall(STREAMS_HASH).exec();
        const version = (replies?.[0]?.[1] as string | null) ?? '0';
        const all = (replies?.[1]?.[1] ?? {}) as Record<string, string>;
        const before = new Map(this.streams);
        this.streams.clear();
        this.trie = new TopicTrie();
        for (const json of Object.values(all)) this.install(JSON.parse(json) as StreamRecord);
        this.version = version;
        for (const [name, old] of before) if (!this.streams.has(name)) this.changed(name, undefined, old);
        for (const [name, record] of this.streams) this.changed(name, record, before.get(name));
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  reloadInBackground(): void {
    this.reload().catch((err: unknown) => this.log.warn({ err }, 'reloading cluster streams failed; retried on the next change or publish'));
  }

  match(topic: string): StreamRecord[] {
    return this.streams.size === 0 ? [] : this.trie.match(topic);
  }

  /** The stream of that name, reading the registry again before refusing (another node may have just created it). */
  async find(name: string): Promise<StreamRecord> {
    if (!this.streams.has(name)) await this.reload();
    const record = this.streams.get(name);
    if (!record) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    return record;
  }

  install(record: StreamRecord): void {
    this.uninstall(record.name);
    this.streams.set(record.name, record);
    this.trie.add(record.pattern, record);
  }

  uninstall(name: string): void {
    const old = this.streams.get(name);
    if (!old) return;
    this.streams.delete(name);
    this.trie.remove(old.pattern, old);
  }
}
