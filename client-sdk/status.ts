import type { LindenError } from '../protocol/errors.js';
import { QueuedIterator } from './queued-iterator.js';

/** Connection status events, read with `for await (const s of client.status())`. */
export type StatusEvent =
  | { type: 'connected'; connectionId: string; url: string }
  /** The broker is stopping (protocol.md §1.6): the client finishes what it has in flight there, then moves to the next URL. */
  | { type: 'draining'; url: string; ms: number }
  | { type: 'disconnected'; code: number; reason: string }
  | { type: 'reconnecting'; attempt: number; delayMs: number }
  | { type: 'slow-consumer'; dropped: number; where: 'broker' | 'client'; pattern?: string }
  | { type: 'error'; error: LindenError }
  | { type: 'closed' };

/** Fans status events out to every open status() iterator. */
export class StatusFeed {
  private readonly listeners = new Set<QueuedIterator<StatusEvent>>();

  iterator(): AsyncIterableIterator<StatusEvent> {
    const it: QueuedIterator<StatusEvent> = new QueuedIterator(() => this.listeners.delete(it));
    this.listeners.add(it);
    return it;
  }

  emit(event: StatusEvent): void {
    for (const it of this.listeners) it.push(event);
  }

  end(): void {
    for (const it of this.listeners) it.end();
    this.listeners.clear();
  }
}
