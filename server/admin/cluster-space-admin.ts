import type { Redis } from 'ioredis';
import { LindenError } from '../../protocol/errors.js';
import { doesNotExist } from '../../protocol/names.js';
import { unavailable } from '../cluster/redis-target.js';
import { clusterSpaceDetail, clusterSpaceViews } from '../cluster/space-views.js';
import type { SpaceDetail, SpaceView } from './views.js';

/*
 * The admin `spaces` and `space` views in cluster mode (protocol.md §17.7): the tuple spaces as
 * Redis holds them for every node, in the shapes a broker on its own answers with.
 */

export async function clusterSpacesView(redis: Redis): Promise<SpaceView[]> {
  try {
    return await clusterSpaceViews(redis);
  } catch (err) {
    throw unavailable(err);
  }
}

export async function clusterSpaceView(redis: Redis, name: string, maxArity: number, peek?: number): Promise<SpaceDetail> {
  let detail: SpaceDetail | undefined;
  try {
    detail = await clusterSpaceDetail(redis, name, maxArity, peek);
  } catch (err) {
    throw unavailable(err);
  }
  if (!detail) throw new LindenError('NOT_FOUND', doesNotExist('space', name), { name });
  return detail;
}
