import type { ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { sendSubmissionReceipt } from '../pubsub/submission-receipt.js';

/**
 * A submission receipt of a publish that reached other nodes: it counts their receivers and
 * drops as they report, and goes out once every node has reported or the timeout has passed.
 */
export class ClusterSubmission {
  private outstanding = 0;
  private receivers = 0;
  private dropped: ReceiverRef[] = [];
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  onDone: (() => void) | undefined;

  /** `queues`: the durable queues that stored a persistent message, counted and named too. */
  constructor(private readonly publisher: Connection, private readonly requestId: number, private readonly mid: string, private readonly queues?: readonly string[]) {
    this.receivers = queues?.length ?? 0;
  }

  /** What this node delivered to. */
  local(receivers: number, dropped: ReceiverRef[] | undefined): void {
    this.receivers += receivers;
    if (dropped) this.dropped.push(...dropped);
  }

  expectNode(): void {
    this.outstanding++;
  }

  /** A node's report: those it delivered to (named, or only counted) and those it dropped. */
  addRemote(receivers: readonly ReceiverRef[], dropped: readonly ReceiverRef[], unnamed = 0): number {
    this.receivers += receivers.length + unnamed + dropped.length;
    this.dropped.push(...dropped);
    if (--this.outstanding === 0 && this.timer) this.finish();
    return 0;
  }

  start(timeoutMs: number): void {
    if (this.outstanding === 0) return this.finish();
    this.timer = setTimeout(() => this.finish(), timeoutMs);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    sendSubmissionReceipt(this.publisher, this.requestId, this.mid, this.receivers, this.dropped.length > 0 ? this.dropped : undefined, this.queues);
    this.onDone?.();
  }
}
