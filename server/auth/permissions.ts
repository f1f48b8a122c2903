import { covers, overlaps } from './patterns.js';

/** Allowed and denied patterns of one kind of subject; deny wins. */
export interface Rule { allow?: string[]; deny?: string[] }

/** What a user may do, as written in the config file or a JWT claim (README "Security"). */
export interface PermissionsConfig {
  publish?: Rule;
  subscribe?: Rule;
  /** `allow`: consume; `manage`: also create, change and delete (and consume). */
  queues?: Rule & { manage?: string[] };
  /** `allow`: read and write (out, in, ...); `read`: rd, count, notify only. */
  spaces?: Rule & { read?: string[] };
  admin?: boolean;
}

export type Action =
  | 'publish' | 'subscribe' | 'queue.consume' | 'queue.manage' | 'space.read' | 'space.write' | 'admin';

/** Subjects remembered per kind of check: a client asks about the same few again and again. */
const CACHE_SIZE = 1024;

/** One pattern list, with the answers it gave. */
class PatternSet {
  private readonly cache = new Map<string, boolean>();

  constructor(private readonly patterns: readonly string[], private readonly test: (pattern: string, subject: string) => boolean) {}

  has(subject: string): boolean {
    let answer = this.cache.get(subject);
    if (answer === undefined) {
      answer = this.patterns.some((p) => this.test(p, subject));
      if (this.cache.size >= CACHE_SIZE) this.cache.clear();
      this.cache.set(subject, answer);
    }
    return answer;
  }
}

const NONE = new PatternSet([], () => false);
const sets = (patterns: string[] | undefined, test: (p: string, s: string) => boolean): PatternSet =>
  patterns && patterns.length > 0 ? new PatternSet(patterns, test) : NONE;

/**
 * A user's permissions, compiled once at login. Subjects are topics (publish), patterns
 * (subscribe) or names (queues, spaces); names never hold wildcards, and a subscription pattern
 * is allowed only when an allowed pattern covers all of it and no denied pattern touches it.
 */
export class Permissions {
  private readonly checks: Record<Exclude<Action, 'admin'>, { allow: PatternSet[]; deny: PatternSet }>;
  readonly admin: boolean;

  constructor(readonly config: PermissionsConfig) {
    const q = config.queues ?? {};
    const s = config.spaces ?? {};
    const manageQueues = sets(q.manage, covers);
    const writeSpaces = sets(s.allow, covers);
    this.checks = {
      publish: { allow: [sets(config.publish?.allow, covers)], deny: sets(config.publish?.deny, covers) },
      subscribe: { allow: [sets(config.subscribe?.allow, covers)], deny: sets(config.subscribe?.deny, overlaps) },
      'queue.consume': { allow: [sets(q.allow, covers), manageQueues], deny: sets(q.deny, covers) },
      'queue.manage': { allow: [manageQueues], deny: sets(q.deny, covers) },
      'space.read': { allow: [sets(s.read, covers), writeSpaces], deny: sets(s.deny, covers) },
      'space.write': { allow: [writeSpaces], deny: sets(s.deny, covers) },
    };
    this.admin = config.admin === true;
  }

  /** `admin` grants the admin operations only; everything else is what an allow names and no deny takes back. */
  may(action: Action, subject: string): boolean {
    if (action === 'admin') return this.admin;
    const check = this.checks[action];
    return !check.deny.has(subject) && check.allow.some((set) => set.has(subject));
  }
}

/** Permissions of a broker without auth: anyone may do anything, as before auth existed. */
export const EVERYTHING = new Permissions({
  publish: { allow: ['>'] }, subscribe: { allow: ['>'] }, queues: { manage: ['>'] }, spaces: { allow: ['>'] }, admin: true,
});
