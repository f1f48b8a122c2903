import type { Headers } from '../../../protocol/frames.js';
import type { Key, StoreWrite } from '../../store/store.js';

/**
 * How a replayable stream lays itself out in the store (issue 17). Prefixes of their own, so a
 * scan of one never walks another's records (queues use q/c/m/n/x, dedupe d/e, spaces sp/st/sq,
 * scheduled messages sd, retained messages rt):
 *   ['lsd', name]            the definition (StreamRecord), small: all of them are read at start
 *   ['lsn', name]            its counters (StreamCounters), rewritten with every append
 *   ['lsm', name, seq]       one message (StreamEntryRecord), read back in seq order in windows
 *   ['lsr', name, reader]    a named reader's position (ReaderRecord): every seq below it is acked
 */
export const DEFINITIONS_PREFIX: Key = ['lsd'];
export const definitionKey = (name: string): Key => ['lsd', name];
export const countersKey = (name: string): Key => ['lsn', name];
export const entriesPrefix = (name: string): Key => ['lsm', name];
export const entryKey = (name: string, seq: number): Key => ['lsm', name, seq];
export const readersPrefix = (name: string): Key => ['lsr', name];
export const readerKey = (name: string, reader: string): Key => ['lsr', name, reader];

export const DISCARD_POLICIES = ['old', 'new'] as const;
export type DiscardPolicy = (typeof DISCARD_POLICIES)[number];

/** Retention limits; 0 (maxAge) or the maximum (the others) means none. */
export interface StreamConfig {
  readonly maxAge: number;
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly discard: DiscardPolicy;
}

/** The limits a `screate` asks for over `base` (the stream's, or STREAM_DEFAULTS for a new one): what it leaves out stays. */
export function streamConfig(base: StreamConfig, f: Partial<StreamConfig>): StreamConfig {
  return {
    maxAge: f.maxAge ?? base.maxAge,
    maxMessages: f.maxMessages ?? base.maxMessages,
    maxBytes: f.maxBytes ?? base.maxBytes,
    discard: f.discard ?? base.discard,
  };
}

export interface StreamRecord {
  name: string;
  pattern: string;
  config: StreamConfig;
  createdAt: number;
  /** Set while its messages are deleted in pieces: a restart finishes the deletion. */
  deleting?: boolean;
}

/** first: the oldest seq kept (next when empty); next: the seq the next message takes. */
export interface StreamCounters {
  first: number;
  next: number;
  count: number;
  bytes: number;
}

export interface StreamEntryRecord {
  topic: string;
  mid: string;
  data: Uint8Array;
  /** When the broker appended it, ms since the epoch. */
  time: number;
  hdr?: Headers;
}

/** A message of a stream with its place in it. */
export interface StreamEntry extends StreamEntryRecord {
  readonly seq: number;
}

export interface ReaderRecord {
  /** Every seq below is acknowledged: a reader that comes back starts here. */
  pos: number;
}

export const putEntry = (stream: string, e: StreamEntry): StoreWrite => {
  const value: StreamEntryRecord = { topic: e.topic, mid: e.mid, data: e.data, time: e.time };
  if (e.hdr !== undefined) value.hdr = e.hdr;
  return { key: entryKey(stream, e.seq), value };
};

export function entryFromRecord(key: Key, value: unknown): StreamEntry {
  const r = value as StreamEntryRecord;
  const e: StreamEntry = { seq: key[2] as number, topic: r.topic, mid: r.mid, data: r.data, time: r.time };
  if (r.hdr !== undefined) (e as { hdr?: Headers }).hdr = r.hdr;
  return e;
}

/** Whether concrete `topic` matches `pattern` (`*` one token, a trailing `>` one or more). */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === topic || pattern === '>') return true;
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === '>') return t.length > i;
    if (i >= t.length) return false;
    if (token !== '*' && token !== t[i]) return false;
  }
  return p.length === t.length;
}
