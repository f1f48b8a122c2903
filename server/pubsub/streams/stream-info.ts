import type { Stream } from './stream.js';
import { byCodeUnits } from '../../strings.js';
import type { ReaderInfo, StreamInfo } from '../../../protocol/stream-info.js';

export type { ReaderInfo, StreamInfo } from '../../../protocol/stream-info.js';

export function streamInfo(s: Stream): StreamInfo {
  const readers: ReaderInfo[] = [];
  for (const [name, stored] of s.positions) readers.push(readerInfo(name, stored, s.first, s.next, s.attachedNames.get(name)));
  readers.sort(byReaderName);
  let subscribers = 0;
  for (const r of s.readers) if (r.name === undefined) subscribers++;
  return {
    name: s.name, pattern: s.pattern, config: { ...s.config }, createdAt: s.createdAt,
    firstSeq: s.first, lastSeq: s.next - 1, messages: s.count, bytes: s.bytes, firstTime: s.oldestTime() ?? null, readers, subscribers,
  };
}

/** A named reader as stream info shows it: `stored` read against the stream's first and next seq, `attached` when it reads here. */
export function readerInfo(name: string, stored: number, first: number, next: number, attached: { readonly unacked: number } | undefined): ReaderInfo {
  const position = Math.max(stored, first);
  return { name, position, lag: Math.max(0, next - position), connected: attached !== undefined, unacked: attached?.unacked ?? 0 };
}

export function byReaderName(a: ReaderInfo, b: ReaderInfo): number {
  return byCodeUnits(a.name, b.name);
}
