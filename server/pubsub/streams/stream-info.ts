import type { Stream } from './stream.js';
import type { ReaderInfo, StreamInfo } from '../../../protocol/stream-info.js';

export type { ReaderInfo, StreamInfo } from '../../../protocol/stream-info.js';

export function streamInfo(s: Stream): StreamInfo {
  const readers: ReaderInfo[] = [];
  for (const [name, stored] of s.positions) {
    const attached = s.attachedNames.get(name);
    const position = Math.max(stored, s.first);
    readers.push({ name, position, lag: Math.max(0, s.next - position), connected: attached !== undefined, unacked: attached?.unacked ?? 0 });
  }
  readers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let subscribers = 0;
  for (const r of s.readers) if (r.name === undefined) subscribers++;
  return {
    name: s.name, pattern: s.pattern, config: { ...s.config }, createdAt: s.createdAt,
    firstSeq: s.first, lastSeq: s.next - 1, messages: s.count, bytes: s.bytes, firstTime: s.oldestTime() ?? null, readers, subscribers,
  };
}
