import { LindenError } from '../../protocol/errors.js';
import type { BatchFrame, Headers } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { Tally } from '../counted-map.js';
import type { ResolvedOptions } from '../options.js';
import type { Store } from '../store/store.js';
import { StoreRoom } from '../store/store-room.js';
import type { BatchStep } from './space.js';
import { compileInbound, inbound, inboundTuple } from './space-wire.js';
import { storedTuple, type StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { TemplateCache } from './template-cache.js';
import { TupleIds } from './tuple-ids.js';

/**
 * What a write must pass before it enters a space: the tuple made from the wire (its id, its
 * lease cut at maxLeaseMs), room in the store (maxStoreBytes, a full disk), maxTuplesPerSpace and
 * maxSpaceBytesTotal. The checks throw the typed error; nothing is changed before they pass.
 */
export class SpaceAdmission {
  readonly ids: TupleIds;
  /** maxStoreBytes and a full disk: STORE_FULL for an out to a persistent space. */
  readonly room: StoreRoom;
  private readonly templates = new TemplateCache();
  private readonly compile = (values: unknown): Template => compileInbound(values, this.options.maxArity);

  constructor(
    private readonly options: ResolvedOptions,
    store: Store,
    /** Bytes of the live tuples of all spaces (maxSpaceBytesTotal). */
    private readonly tupleBytes: Tally,
    storeFailed: (err: unknown) => void,
  ) {
    this.room = StoreRoom.of(store, options.maxStoreBytes);
    this.ids = new TupleIds(store, storeFailed);
  }

  tuple(
    conn: Connection, space: string, wire: unknown[], ttlAsked: number | undefined, hdr: Headers | undefined, numbered = true,
  ): { tuple: StoredTuple; packed: Uint8Array; ttl: number | null; shortened: boolean } {
    const { values, packed, bytes } = inboundTuple(conn, wire, this.options.maxArity);
    const ttl = ttlAsked === undefined ? null : Math.min(ttlAsked, this.options.maxLeaseMs);
    const seq = numbered ? this.ids.take() : 0; // unnumbered: the cluster's spaces number their tuples in Redis
    const tuple = storedTuple(seq, seq.toString(36), space, values, ttl === null ? Infinity : Date.now() + ttl, bytes, hdr);
    return { tuple, packed, ttl, shortened: ttl !== null && ttl < ttlAsked! };
  }

  template(conn: Connection, wire: unknown[]): Template {
    return this.templates.get(inbound(conn, wire), this.compile);
  }

  /**
   * A batch's steps, validated (§10.10 step 1): an invalid step fails the batch with its error,
   * `step` added to its details. Each `out` tuple is made by `makeTuple`.
   */
  batchSteps(conn: Connection, f: BatchFrame, makeTuple = (step: BatchOut) => this.tuple(conn, f.space, step.tuple, step.ttl, step.hdr).tuple): BatchStep[] {
    return f.steps.map((step, i) => {
      try {
        if (step.op !== 'out') return { op: step.op, template: this.template(conn, step.template) };
        return { op: 'out', tuple: makeTuple(step) };
      } catch (err) {
        if (err instanceof LindenError) throw new LindenError(err.code, `batch step ${i}: ${err.message}`, { ...err.details, step: i });
        throw err;
      }
    });
  }

  /** STORE_FULL when a write to a persistent space would find no room. */
  checkRoom(persistent: boolean): void {
    if (persistent) this.room.check();
  }

  /** SPACE_FULL when `more` tuples would take the space past maxTuplesPerSpace. */
  checkCount(space: string, count: number, more: number, batch = false): void {
    const limit = this.options.maxTuplesPerSpace;
    if (count + more <= limit) return;
    const message = !batch
      ? `space "${space}" holds ${count} tuples (maxTuplesPerSpace)`
      : `space "${space}" cannot take ${more} more tuples (maxTuplesPerSpace)`;
    throw new LindenError('SPACE_FULL', message, { space, limit: 'maxTuplesPerSpace' });
  }

  /** SPACE_FULL when `bytes` more would take the tuples of all spaces over maxSpaceBytesTotal. */
  checkBytes(space: string, bytes: number): void {
    const held = this.tupleBytes.count;
    if (bytes > 0 && held + bytes > this.options.maxSpaceBytesTotal) {
      throw new LindenError(
        'SPACE_FULL',
        `the spaces hold ${held} bytes of tuples; ${bytes} more would pass the limit for all spaces together (maxSpaceBytesTotal ${this.options.maxSpaceBytesTotal})`,
        { space, limit: 'maxSpaceBytesTotal' },
      );
    }
  }
}

type BatchOut = Extract<BatchFrame['steps'][number], { op: 'out' }>;
