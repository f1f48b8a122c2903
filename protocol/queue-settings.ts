import type { QueueSettings } from './frames.js';

/**
 * The fields of QueueSettings (protocol.md §9): what the SDK copies into `sub` and `qcreate`, and
 * what the broker looks for. Apart from frames.ts, whose schemas the browser SDK need not carry.
 */
export const QUEUE_SETTINGS = ['ackWait', 'maxInFlight', 'maxDeliveries', 'maxMessages', 'maxBytes', 'overflow'] as const satisfies readonly (keyof QueueSettings)[];

/** Whether a message names any queue setting (a `sub` that does may change its queue). */
export function hasQueueSettings(f: QueueSettings): boolean {
  return QUEUE_SETTINGS.some((k) => f[k] !== undefined);
}

/** The first queue setting a stream's `sub` may not have: all of them but a named reader's `ackWait` (§9.11). */
export function settingNotForStreams(f: QueueSettings): (typeof QUEUE_SETTINGS)[number] | undefined {
  return QUEUE_SETTINGS.find((k) => k !== 'ackWait' && f[k] !== undefined);
}
