import type { Redis } from 'ioredis';
import { SPACES_KEY } from './keys.js';

/** How often a node notes a space it uses again: well under FORGET_AFTER_MS, so a used space is never forgotten. */
const NOTE_EVERY_MS = 10_000;
/** An entry of an empty space no node has noted for this long is dropped by the next listing. */
const FORGET_AFTER_MS = 60_000;
/** Spaces a listing looks at, at most: the admin views and metrics stay bounded however many names were used. */
export const LISTED_SPACES = 1_000;

// Scored with Redis's clock, so that the nodes' clocks do not matter.
const NOTE = `
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
`;
// Forgotten only if no node noted it since it was listed (whoever writes to it notes it again).
const FORGET = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) and now - tonumber(score) > tonumber(ARGV[3]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
`;

/**
 * The names of the cluster's tuple spaces, for the admin views: the sorted set `{linden}:spaces`
 * (name -> when a node last noted it). A node notes a space when it writes to it, files a waiter
 * on it or subscribes to its events, at most every NOTE_EVERY_MS; a listing drops the spaces
 * found empty that nobody noted for FORGET_AFTER_MS, so names used once do not pile up.
 */
export class SpaceRegistry {
  private readonly noted = new Map<string, number>();

  constructor(private readonly redis: Redis) {}

  /** Fire and forget: a note lost while Redis is away is made again on the next use after NOTE_EVERY_MS. */
  note(space: string): void {
    const now = Date.now();
    if (now - (this.noted.get(space) ?? -Infinity) < NOTE_EVERY_MS) return;
    if (this.noted.size >= LISTED_SPACES * 10) this.noted.clear(); // a bound on what a node remembers
    this.noted.set(space, now);
    this.redis.eval(NOTE, 1, SPACES_KEY, space).catch(() => this.noted.delete(space));
  }
}

/** The spaces noted, oldest noted first, at most LISTED_SPACES, with the score read (for forgetSpace). */
export async function spaceNames(redis: Redis): Promise<{ name: string; noted: number }[]> {
  const flat = await redis.zrange(SPACES_KEY, 0, LISTED_SPACES - 1, 'WITHSCORES');
  const out: { name: string; noted: number }[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ name: flat[i]!, noted: Number(flat[i + 1]) });
  return out;
}

/** Drops a space found empty, unless a node noted it since `noted` or lately. */
export async function forgetSpace(redis: Redis, name: string, noted: number): Promise<void> {
  await redis.eval(FORGET, 1, SPACES_KEY, name, noted, FORGET_AFTER_MS);
}
