import type { QueuedMessage } from './queue-records.js';
import { SeqHeap } from './seq-heap.js';

/**
 * A queue's ready messages, oldest first, with the total of their payload bytes kept as they
 * come and go: a full drop-oldest queue asks on every publish how much dropping could free, and
 * must not add it up over every message it holds to answer.
 */
export class ReadyLine extends SeqHeap<QueuedMessage> {
  /** Payload bytes of the messages in line. */
  bytes = 0;

  override push(message: QueuedMessage): void {
    super.push(message);
    this.bytes += message.data.length;
  }

  override pop(): QueuedMessage | undefined {
    const message = super.pop();
    if (message) this.bytes -= message.data.length;
    return message;
  }

  override remove(message: QueuedMessage): boolean {
    if (!super.remove(message)) return false;
    this.bytes -= message.data.length;
    return true;
  }

  override clear(): QueuedMessage[] {
    this.bytes = 0;
    return super.clear();
  }
}
