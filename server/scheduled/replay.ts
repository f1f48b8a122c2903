import { CODECS } from '../../protocol/codec.js';
import type { AckLevel, OutFrame, PubFrame } from '../../protocol/frames.js';
import type { CodecName } from '../../protocol/version.js';
import type { Connection } from '../connection.js';
import type { ScheduledRecord } from './scheduled-records.js';

/** Where a due schedule goes: the cores, as if its frame arrived now without `delay`. */
export interface ScheduledTarget {
  publish(conn: Connection, f: PubFrame): void;
  out(conn: Connection, f: OutFrame): void;
}

/**
 * The publisher of a schedule that nobody waits for any more (it disconnected, the broker
 * restarted, or it asked for no later receipt): what the cores read of a connection on the way
 * of a publish or out without an answer, in the codec the frame was sent in. Its size was
 * checked against the publisher's maxMessageBytes when it was scheduled.
 */
const ghosts = new Map<CodecName, Connection>();

export function ghostConnection(codec: CodecName): Connection {
  let ghost = ghosts.get(codec);
  if (!ghost) ghosts.set(codec, (ghost = ghostOf(codec, () => undefined, () => undefined)));
  return ghost;
}

/** What the cores read of a publisher, answering through `sendFrame` and `sendError`. */
function ghostOf(codec: CodecName, sendFrame: (f: { t: string; message?: string }) => void, sendError: (err: unknown) => void, outbound?: { isEmpty: boolean }): Connection {
  return {
    id: 'scheduler', codec: CODECS[codec], maxMessageBytes: Infinity, state: 'open', user: undefined,
    ...(outbound ? { outbound } : {}), sendFrame, sendError, track: () => undefined,
  } as unknown as Connection;
}

/**
 * A publisher for a due schedule whose routing must be confirmed before it leaves the cluster's
 * store (cluster-schedules.ts): the frame goes with ack `submission`, and `answered` settles on
 * the receipt or lease, or on the error. Replies go through sendFrame (outbound "not empty").
 */
export function answeringGhost(codec: CodecName): { conn: Connection; answered: Promise<void> } {
  let conn!: Connection;
  const answered = new Promise<void>((resolve, reject) => {
    conn = ghostOf(codec, (f) => (f.t === 'err' ? reject(new Error(f.message)) : resolve()), (err) => reject(err), { isEmpty: false });
  });
  return { conn, answered };
}

/** The frame a due schedule routes: its own fields, and an answer only for a publisher still waiting. */
export function dueFrame(r: ScheduledRecord, answer: { re: number; ack: AckLevel; timeout?: number } | undefined): PubFrame | OutFrame {
  const asked = answer ? { id: answer.re, ack: answer.ack, ...(answer.timeout === undefined ? {} : { timeout: answer.timeout }) } : {};
  const w = r.what;
  if (w.kind === 'pub') {
    // The schedule's id is the message's mid: what the publisher was told is what subscribers see.
    const f: PubFrame = { t: 'pub', topic: w.topic, data: w.data, mid: r.id, ...asked };
    if (w.mode) f.mode = w.mode;
    if (w.ttl !== undefined) f.ttl = w.ttl;
    if (w.hdr) f.hdr = w.hdr;
    if (w.retain) f.retain = true;
    return f;
  }
  const f: OutFrame = { t: 'out', space: w.space, tuple: w.tuple, ...asked };
  if (w.ttl !== undefined) f.ttl = w.ttl;
  if (w.hdr) f.hdr = w.hdr;
  if (w.persistent !== undefined) f.persistent = w.persistent;
  return f;
}
