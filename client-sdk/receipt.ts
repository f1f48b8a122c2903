import type { Codec } from '../protocol/codec.js';
import type { ReceiptFrame, ReceiverRef } from '../protocol/frames.js';

/** What the broker reports about a publish once the requested synchronisation point is reached. */
export interface Receipt {
  /** The message id (publisher-chosen `mid`, or the broker's). */
  id: string;
  stage: 'submission' | 'delivery' | 'processing';
  /** Receivers matched at publish time; a queue group counts as one. */
  receivers: number;
  delivered: number;
  processed: number;
  /** Receivers that rejected the message (nack). */
  failed: number;
  /** Receivers skipped because their outbound buffer was full. */
  dropped: number;
  /** True when the timeout passed before every receiver reached the stage. */
  timedOut: boolean;
  /** Receivers that did not reach the stage (timed out, disconnected or dropped). */
  missing: ReceiverRef[];
  /** Receivers that nacked. */
  rejected: ReceiverRef[];
  /** The reply of a request. */
  data?: unknown;
  /** Persistent messages: the durable subscriptions that stored it (counted in `receivers`). */
  queues?: string[];
  /** Persistent messages: a repeat of a `msgId` seen within the dedupe window; not stored again. */
  duplicate?: boolean;
  /** A scheduled publish's submission receipt: when the broker routes it, in ms since the epoch (`id` cancels it). */
  due?: number;
}

export function toReceipt(frame: ReceiptFrame, codec: Codec): Receipt {
  const receipt: Receipt = {
    id: frame.mid, stage: frame.stage, receivers: frame.receivers, delivered: frame.delivered,
    processed: frame.processed, failed: frame.failed, dropped: frame.dropped, timedOut: frame.timedOut,
    missing: frame.missing, rejected: frame.rejected,
  };
  if (frame.data !== undefined) receipt.data = codec.unpackData(frame.data);
  if (frame.queues !== undefined) receipt.queues = frame.queues;
  if (frame.duplicate !== undefined) receipt.duplicate = frame.duplicate;
  if (frame.due !== undefined) receipt.due = frame.due;
  return receipt;
}
