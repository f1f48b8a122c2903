import { invalidField, LindenError } from '../../protocol/errors.js';
import type { AckLevel, PubFrame, SubFrame } from '../../protocol/frames.js';

/*
 * Which `pub` with `retain` and which `sub` with `retained` the broker takes (protocol.md §7.4),
 * before any state is looked at: the pub/sub core asks only for messages that carry the flag.
 */

/** `retained` goes with a plain subscription: a queue's consumers and a group's members share messages, which a snapshot each would repeat. */
export function checkRetainedSub(f: SubFrame): void {
  if (f.durable !== undefined || f.group !== undefined) {
    throw invalidField('sub', 'retained', 'cannot be combined with durable or group: only a plain subscription gets the retained messages');
  }
}

/** `retain` is not for requests; in cluster mode (`clustered`) a retained publish is transient and waits for `submission` at most. */
export function checkRetainPub(f: PubFrame, ack: AckLevel, clustered: boolean): void {
  if (f.reply) {
    throw invalidField('pub', 'retain', 'cannot be combined with reply: a request is not kept');
  }
  if (!clustered) return;
  if (f.mode === 'persistent') throw unsupported('a retained publish is transient there (Redis keeps it)');
  if (ack === 'delivery' || ack === 'processing') throw unsupported('a retained publish waits for submission at most');
}

function unsupported(why: string): LindenError {
  return new LindenError('RETAIN_UNSUPPORTED', `not in cluster mode (redis): ${why}`);
}

/** One promise for two store writes, either of which may be absent. */
export function bothWritten(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Promise.all([a, b]).then(() => undefined);
}
