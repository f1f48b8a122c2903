import type { Store } from '../store/store.js';
import { putSeqMark } from './space-records.js';

/** Tuple ids are handed out in blocks of this size; each block costs one store write. */
const BLOCK = 1 << 20;

/**
 * The broker-wide tuple sequence: it orders tuples (lower is older) and names them (the tuple id
 * is the seq in base 36). It must never repeat, across restarts too, or a client still holding
 * an id from before a restart could renew or cancel another tuple. The highest stored tuple is
 * not enough (the newest ones may have been taken), so a mark above every seq handed out is kept
 * in the store, a block at a time; a restart starts at the old mark.
 */
export class TupleIds {
  private next = 0;
  private mark = 0;

  constructor(private readonly store: Store, private readonly failed: (err: unknown) => void) {}

  /** After recovery: continue from `from`, the first seq above every stored tuple and mark. */
  async resume(from: number): Promise<void> {
    this.next = from;
    this.mark = from + BLOCK;
    await this.store.write([putSeqMark(this.mark)]);
  }

  take(): number {
    const seq = this.next++;
    if (this.next > this.mark) {
      this.mark += BLOCK;
      // Issued ahead of any tuple of the new block, so a stored tuple implies its block is recorded.
      try {
        this.store.write([putSeqMark(this.mark)])?.catch(this.failed);
      } catch (err) {
        this.failed(err);
      }
    }
    return seq;
  }
}
