import type { Headers } from '../../../protocol/frames.js';

/** A persistent message as a stream entry's fields (t topic, m mid, d data, h headers, p published, x expires, o origin). */
export interface StreamMessage {
  topic: string;
  mid: string;
  /** The payload as MessagePack, as the local store keeps it. */
  data: Buffer;
  hdr: Headers | undefined;
  publishedAt: number;
  expiresAt: number;
  /** The node of a publisher waiting for `delivery` or `processing` ('' when none waits): where receipt events go. */
  origin: string;
}

/** The fields after the entry id, in the publish script's order (stream-scripts.ts). */
export function entryArgs(m: StreamMessage): (string | Buffer)[] {
  return [m.topic, m.mid, m.data, m.hdr ? JSON.stringify(m.hdr) : '', String(m.publishedAt), Number.isFinite(m.expiresAt) ? String(m.expiresAt) : '', m.origin];
}

/** Fields as XREADGROUP/XAUTOCLAIM return them with Buffer replies: [name, value, name, value...]. */
export function decodeEntry(fields: Buffer[]): StreamMessage {
  const byName = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) byName.set(fields[i]!.toString(), fields[i + 1]!);
  const text = (k: string) => byName.get(k)?.toString() ?? '';
  const hdr = text('h');
  const expires = text('x');
  return {
    topic: text('t'),
    mid: text('m'),
    data: byName.get('d') ?? Buffer.alloc(0),
    hdr: hdr ? (JSON.parse(hdr) as Headers) : undefined,
    publishedAt: Number(text('p')),
    expiresAt: expires ? Number(expires) : Infinity,
    origin: text('o'),
  };
}
