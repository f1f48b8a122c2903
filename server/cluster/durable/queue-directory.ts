import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { QueueSettings } from '../../../protocol/frames.js';
import { doesNotExist } from '../../../protocol/names.js';
import { VersionedRegistry } from '../versioned-registry.js';
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
 * Every queue of the cluster, known on every node (server/cluster/versioned-registry.ts), and
 * the scripts that declare and remove them.
 */
export class QueueDirectory extends VersionedRegistry<QueueDefinition> {
  constructor(
    redis: Redis,
    log: Logger,
    /** A queue changed (undefined: deleted), whoever changed it. */
    changed: (name: string, def: QueueDefinition | undefined) => void,
  ) {
    super(redis, log, { version: QUEUES_VERSION, hash: QUEUES_HASH, what: 'queues' }, changed);
  }

  get queues(): Map<string, QueueDefinition> {
    return this.byName;
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

}

function defined(s: QueueSettings): Partial<QueueConfig> {
  const out: Partial<QueueConfig> = {};
  for (const key of Object.keys(QUEUE_DEFAULTS) as (keyof QueueConfig)[]) {
    if (s[key] !== undefined) (out as Record<string, unknown>)[key] = s[key];
  }
  return out;
}
