import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { packr } from '../../protocol/codec.js';
import type { StoredTuple } from '../space/stored-tuple.js';
import type { Waiter } from '../space/waiters.js';
import type { ClusterOutWatches, TupleFate } from './cluster-out-watches.js';
import type { ClusterReservations } from './cluster-reservations.js';
import type { FiledWaiters, Reservation } from './filed-waiters.js';
import { HANDOFF_MS, OFFERS_KEY, RESERVATIONS_KEY, SPACE_BYTES_KEY } from './keys.js';
import { equalityKeys, recordOf, tupleOf } from './space-entries.js';
import { SPACE_CLAIM, SPACE_COPY, SPACE_SHOW, SPACE_UNWAIT, SPACE_WAITERS, spaceChannel, spaceKey } from './space-scripts.js';
import { OFFER_MS } from './space-sweeps.js';

type Arg = string | number | Buffer;
type Scripted = Redis & {
  lindenSpaceWaitersBuffer(...args: Arg[]): Promise<(number | Buffer)[]>;
  lindenSpaceUnwait(...args: Arg[]): Promise<number>;
  lindenSpaceClaim(...args: Arg[]): Promise<number>;
  lindenSpaceCopy(...args: Arg[]): Promise<number>;
  lindenSpaceShow(...args: Arg[]): Promise<number>;
};

/** What goes to a waiter's node on its space channel: [local id, space, tid, seq, record, take, claim id, hand-off]. */
type Handover = [number, string, string, number, Buffer, boolean, string | undefined, boolean];

/** What the hand-overs need of the node's spaces. */
export interface HandoverHost {
  /** This node's filed waiters by their local id (Waiter.seq): a hand-over's waiter is taken off when served. */
  readonly waiting: Map<number, Waiter>;
  /** Answers the waiter; false when its connection can no longer take it. */
  serve(w: Waiter, t: StoredTuple): boolean;
  readonly reservations: ClusterReservations;
  readonly outWatches: ClusterOutWatches;
}

/**
 * How a tuple reaches the waiters of the cluster's spaces. A node writing a tuple while waiters
 * of its arity exist keeps it hidden, offers it to them in arrival order (every matching `rd`
 * gets a copy, the first matching `in` claims it with a script) and shows it only when no `in`
 * took it and no waiter arrived meanwhile. The tuple goes to a waiter's node on that node's space
 * channel, published by the script that claims it (or ends a `rd`'s wait); an `in`'s tuple stays
 * claimed in Redis until that node has served it (or put it back, when it no longer has the
 * waiter), so no node's death loses or hides it (see the sweeps). The same channel carries the
 * reports to out watches (`['f', id, fate]`, cluster-out-watches.ts).
 */
export class SpaceHandovers {
  private readonly redis: Scripted;
  /** The offers under way per space: this node's tuples of a space reach the waiters in write order. */
  private readonly offering = new Map<string, Promise<void>>();

  constructor(
    redis: Redis,
    private readonly node: string,
    private readonly host: HandoverHost,
    private readonly filed: FiledWaiters,
    private readonly log: Logger,
  ) {
    this.redis = redis as Scripted;
    // Show takes the equality index keys after its fixed ones: the key count comes first.
    this.redis.defineCommand('lindenSpaceWaiters', { numberOfKeys: 3, lua: SPACE_WAITERS });
    this.redis.defineCommand('lindenSpaceUnwait', { numberOfKeys: 2, lua: SPACE_UNWAIT });
    this.redis.defineCommand('lindenSpaceClaim', { numberOfKeys: 10, lua: SPACE_CLAIM });
    this.redis.defineCommand('lindenSpaceCopy', { numberOfKeys: 3, lua: SPACE_COPY });
    this.redis.defineCommand('lindenSpaceShow', { lua: SPACE_SHOW });
  }

  /**
   * Offers the hidden tuple `tid` (record `rec`) to the space's waiters, in turn with this node's
   * other offers of the space; `seen`: the waiters' arrival sequence when it was hidden, -1
   * unknown; `released`: the reservation it is put back from, if any.
   */
  offer(space: string, tid: string, seq: number, rec: Buffer, values: unknown[], seen: number, released = ''): Promise<void> {
    return this.inTurn(space, () => this.offerNow(space, values.length, tid, seq, rec, values, seen, released));
  }

  /** A tuple handed to one of this node's waiters by another node (or by this one), or a report to one of its out watches. */
  received(buf: Buffer): void {
    const frame = packr.unpack(buf) as Handover | ['f', number, TupleFate];
    if (frame[0] === 'f') return this.host.outWatches.arrived(frame[1], frame[2]);
    const [id, space, tid, seq, rec, take, sentRid, handoff] = frame;
    const rid = sentRid ?? undefined; // undefined travels as nil
    const t = tupleOf(space, tid, seq, rec);
    const w = this.host.waiting.get(id);
    if (w) this.host.waiting.delete(id);
    const served = !!w && this.host.serve(w, t);
    // A plain `in` served has the tuple for good (its claim ends below); a reserved one holds it until its ack.
    if (served && take) this.host.outWatches.taken(t, handoff ? undefined : rid);
    if (handoff) {
      // Claimed for this node until now: taken for good once served, otherwise put back (the sweep does it if this node dies first).
      this.host.reservations.settle(space, rid!, served, true).then(
        (ended) => {
          if (served && !ended) this.log.warn({ space, tid }, 'cluster spaces: a tuple handed over was served after its claim ran out; it was put back too');
        },
        (err: unknown) => this.log.warn({ err, space, tid }, 'cluster spaces: a hand-over could not end; the sweep puts the tuple back'),
      );
      return;
    }
    if (!served && take) void this.giveBack(t, rid);
  }

  /**
   * SPACE_CLAIM for `member`: with a hand-over, the script publishes it to the waiter's node, or
   * this node serves it once claimed when the waiter is its own.
   */
  async claim(space: string, arity: number, member: string, tid: string, rid: string, released: string, end: number, handover: Handover | ''): Promise<number> {
    const k = (part: string) => spaceKey(space, part);
    const bar = member.lastIndexOf('|');
    const node = member.slice(0, bar);
    let frame: Buffer | '' = '';
    if (handover !== '') {
      handover[0] = Number(member.slice(bar + 1));
      frame = packr.pack(handover);
    }
    const claimed = await this.redis.lindenSpaceClaim(
      k(`w:${arity}`), k('wt'), k('t'), k(`a:${arity}`), k('n'), k('r'), OFFERS_KEY, RESERVATIONS_KEY, spaceChannel(node), SPACE_BYTES_KEY,
      member, tid, k('events'), rid, released, space, end, node === this.node ? '' : frame, handover !== '' && handover[7] ? '1' : '',
    );
    if (claimed === 1 && frame !== '' && node === this.node) this.received(frame);
    return claimed;
  }

  /** A tuple taken for a waiter that can no longer have it goes back to the space, offered to the others first. */
  async giveBack(t: StoredTuple, rid?: string): Promise<void> {
    if (rid !== undefined) {
      await this.host.reservations.settle(t.space, rid, false).catch((err: unknown) => this.log.error({ err, space: t.space, tid: t.tid }, 'cluster spaces: a reserved tuple could not be put back'));
      return;
    }
    const rec = recordOf(t);
    const k = (part: string) => spaceKey(t.space, part);
    const arity = t.values.length;
    try {
      const eq = equalityKeys(t.space, t.values);
      await this.redis.lindenSpaceShow(
        6 + eq.length, k('t'), k(`a:${arity}`), k('wseq'), k('r'), OFFERS_KEY, SPACE_BYTES_KEY, ...eq, t.tid, t.seq, rec, -1, 1, '', t.space, Date.now() + OFFER_MS,
      );
      await this.offer(t.space, t.tid, t.seq, rec, t.values, -1);
    } catch (err) {
      this.log.error({ err, space: t.space, tid: t.tid }, 'cluster spaces: a tuple could not be put back');
    }
  }

  /** Resolves once the tuples this node is offering are handed over or shown. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.offering.values()]);
  }

  /**
   * Offers a hidden tuple to the space's waiters in arrival order, then shows it unless an `in`
   * took it. Repeats when waiters arrived meanwhile. Each `rd` copy and each claim reaches the
   * waiter's node in the script that ends its wait; a waiter whose node does not listen is
   * dropped and the next one offered.
   */
  private async offerNow(space: string, arity: number, tid: string, seq: number, rec: Buffer, values: unknown[], seen: number, released: string): Promise<void> {
    const k = (part: string) => spaceKey(space, part);
    const eq = equalityKeys(space, values);
    for (;;) {
      const list = await this.redis.lindenSpaceWaitersBuffer(k(`w:${arity}`), k('wt'), k('wseq'));
      seen = list[0] as number;
      const takers: [string, Reservation | undefined][] = [];
      // Every matching `rd` gets a copy, whenever it started waiting; then the oldest matching `in` takes it.
      for (let i = 1; i < list.length; i += 2) {
        const member = list[i]!.toString();
        const waiter = this.filed.of(member, list[i + 1] as Buffer);
        if (!waiter || !waiter.template.matches(values)) continue;
        if (waiter.take) takers.push([member, waiter.reserve]);
        else await this.copy(member, arity, [0, space, tid, seq, rec, false, undefined, false]);
      }
      for (const [member, reserve] of takers) {
        // A plain `in` takes it under a claim of its own, ended by its node once served (see received()).
        const rid = reserve?.rid ?? this.host.reservations.newId();
        const handover: Handover = [0, space, tid, seq, rec, true, rid, !reserve];
        const claimed = await this.claim(space, arity, member, tid, rid, released, Date.now() + (reserve?.ms ?? HANDOFF_MS), handover);
        // Claimed: handed over. Gone: cancelled, or another node offered it (its node was late) or put it back.
        if (claimed === 1 || claimed === -1) return;
      }
      if (await this.redis.lindenSpaceShow(
        6 + eq.length, k('t'), k(`a:${arity}`), k('wseq'), k('r'), OFFERS_KEY, SPACE_BYTES_KEY, ...eq, tid, seq, rec, seen, 0, released, space, Date.now() + OFFER_MS,
      )) return;
    }
  }

  /** A `rd` waiter's copy: its wait ends and the tuple goes to its node in one script (or here, for this node's own). */
  private async copy(member: string, arity: number, handover: Handover): Promise<void> {
    const k = (part: string) => spaceKey(handover[1], part);
    const bar = member.lastIndexOf('|');
    const node = member.slice(0, bar);
    handover[0] = Number(member.slice(bar + 1));
    const frame = packr.pack(handover);
    if (node !== this.node) await this.redis.lindenSpaceCopy(k(`w:${arity}`), k('wt'), spaceChannel(node), member, frame);
    else if (await this.redis.lindenSpaceUnwait(k(`w:${arity}`), k('wt'), member)) this.received(frame);
  }

  private inTurn(space: string, run: () => Promise<void>): Promise<void> {
    const next = (this.offering.get(space) ?? Promise.resolve()).then(run);
    const settled = next.catch(() => undefined);
    this.offering.set(space, settled);
    void settled.then(() => {
      if (this.offering.get(space) === settled) this.offering.delete(space);
    });
    return next;
  }
}
