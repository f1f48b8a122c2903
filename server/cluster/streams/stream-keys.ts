/**
 * How replayable streams (issue 17, protocol.md §9.11) lie in Redis in cluster mode. Every broker
 * sharing the Redis uses these:
 *   linden:lstreams              hash  name -> JSON StreamRecord: every stream, its pattern and limits
 *   linden:lstreams:version      int   bumped by every change of that hash; a persistent publish names
 *                                      the version it routed by, and is refused ('stale') if it moved on
 *   linden:lstreams:changed      channel: the name of a stream that changed, so nodes reload
 *   linden:lstream:<name>        Redis Stream of its messages, entry id `<seq>-0`, fields t topic,
 *                                      m mid, d data (MessagePack), h headers JSON, p append time
 *   linden:lstream:<name>:meta   hash  next (the seq the next message takes), bytes (payload bytes kept)
 *   linden:lstream:<name>:readers hash reader -> position (every seq below it is acked)
 *   linden:lstreams:readers      channel: JSON {stream, reader, token} of a named reader just
 *                                      attached, so the node holding an earlier attachment ends it
 *   linden:lstreams:sweep        a lock (SET NX PX): the one node that trims by maxAge this turn
 */
export const STREAMS_HASH = 'linden:lstreams';
export const STREAMS_VERSION = 'linden:lstreams:version';
export const STREAMS_CHANNEL = 'linden:lstreams:changed';
export const READERS_CHANNEL = 'linden:lstreams:readers';
export const STREAMS_SWEEP_LOCK = 'linden:lstreams:sweep';

export interface StreamKeys {
  readonly data: string;
  readonly meta: string;
  readonly readers: string;
}

export function streamKeys(name: string): StreamKeys {
  const data = `linden:lstream:${name}`;
  return { data, meta: `${data}:meta`, readers: `${data}:readers` };
}
