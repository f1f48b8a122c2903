import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import { doesNotExist } from '../../../protocol/names.js';
import type { StreamRecord } from '../../pubsub/streams/stream-records.js';
import { VersionedRegistry } from '../versioned-registry.js';
import { STREAMS_HASH, STREAMS_VERSION } from './stream-keys.js';

/**
 * Every replayable stream of the cluster, known on every node (the hash linden:lstreams), kept as
 * QueueDirectory keeps the queues (server/cluster/versioned-registry.ts).
 */
export class StreamRegistry extends VersionedRegistry<StreamRecord> {
  constructor(
    redis: Redis,
    log: Logger,
    /** A stream changed (undefined: deleted), whoever changed it. */
    changed: (name: string, record: StreamRecord | undefined, before: StreamRecord | undefined) => void,
  ) {
    super(redis, log, { version: STREAMS_VERSION, hash: STREAMS_HASH, what: 'streams' }, changed);
  }

  get streams(): Map<string, StreamRecord> {
    return this.byName;
  }

  override match(topic: string): StreamRecord[] {
    return this.byName.size === 0 ? [] : super.match(topic);
  }

  /** The stream of that name, reading the registry again before refusing (another node may have just created it). */
  async find(name: string): Promise<StreamRecord> {
    if (!this.byName.has(name)) await this.reload();
    const record = this.byName.get(name);
    if (!record) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    return record;
  }
}
