import { packr } from '../../protocol/codec.js';
import { NESTING_LIMIT } from '../space/space-wire.js';
import { compileTemplate, type Template } from '../space/template.js';

/** A take under reservation: its length and id. */
export interface Reservation {
  ms: number;
  rid: string;
}

/** A blocked request as every node reads it from Redis: an `in` (`take`), maybe under reservation, or a `rd`. */
export interface FiledWaiter {
  template: Template;
  take: boolean;
  reserve: Reservation | undefined;
}

/** Compiled templates of waiters (of every node) kept; past it the cache starts over. */
const TEMPLATE_CACHE = 10_000;

/** What a node files in the `wt` hash for one of its waiters: its template as sent, and how it takes. */
export function packWaiter(wire: unknown, take: boolean, reserve: Reservation | undefined): Buffer {
  return packr.pack(reserve ? [wire, take, reserve.ms, reserve.rid] : [wire, take]);
}

/** The filed waiters of every node, compiled once each. */
export class FiledWaiters {
  private readonly compiled = new Map<string, FiledWaiter>();

  constructor(private readonly maxArity: number) {}

  /** The waiter `member` filed as `source`; undefined when it left between the two reads (empty source). */
  of(member: string, source: Buffer): FiledWaiter | undefined {
    let c = this.compiled.get(member);
    if (c) return c;
    if (source.length === 0) return undefined;
    const [wire, take, ms, rid] = packr.unpack(source) as [unknown, boolean, number | undefined, string | undefined];
    const template = compileTemplate(wire, { maxArity: this.maxArity, maxDepth: NESTING_LIMIT });
    c = { template, take, reserve: rid === undefined ? undefined : { ms: ms!, rid } };
    if (this.compiled.size >= TEMPLATE_CACHE) this.compiled.clear();
    this.compiled.set(member, c);
    return c;
  }
}
