import { jsonCodec, msgpackCodec, packAroundData, packr } from '../protocol/codec.js';
import { MsgpackFrameWriter, wholeFrame } from '../protocol/frame-writer.js';

describe.each([msgpackCodec, jsonCodec])('$name frame writer', (codec) => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ t: 'pub', topic: `t.${i}`, data: 'x'.repeat(i % 50) }));

  test('splits into frames under maxFrameBytes, keeping every message in order', () => {
    const writer = codec.createWriter(1_000);
    for (const m of messages) writer.piece(codec.encode(m));
    expect(writer.messages).toBe(200);
    const frames = writer.take();
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(1_000);
    const decoded = frames.flatMap((f) => codec.decode(wholeFrame(f), codec.name === 'msgpack'));
    expect(decoded).toEqual(messages);
    expect(writer.messages).toBe(0);
    expect(writer.take()).toEqual([]);
  });

  test('no frame exceeds the cap by its array header or brackets, whatever the message sizes', () => {
    for (let n = 0; n < 60; n++) {
      const writer = codec.createWriter(100);
      for (let i = 0; i < 40; i++) writer.piece(codec.encode({ s: 'x'.repeat(n) }));
      const sizes = writer.take().map((f) => (typeof f === 'string' ? Buffer.byteLength(f) : f.length));
      expect({ n, over: sizes.filter((size) => size > 100) }).toEqual({ n, over: [] });
    }
  });

  test('a message larger than the cap travels alone', () => {
    const writer = codec.createWriter(100);
    writer.piece(codec.encode({ small: 1 }));
    writer.piece(codec.encode({ big: 'y'.repeat(500) }));
    writer.piece(codec.encode({ small: 2 }));
    const frames = writer.take();
    expect(frames.map((f) => codec.decode(wholeFrame(f), codec.name === 'msgpack'))).toEqual([[{ small: 1 }], [{ big: 'y'.repeat(500) }], [{ small: 2 }]]);
  });
});

test('MessagePack frames are standard arrays any decoder reads', () => {
  const writer = msgpackCodec.createWriter(1 << 20);
  writer.piece(packr.pack({ a: 1 }));
  const [frame] = writer.take();
  expect(packr.unpack(frame as Uint8Array)).toEqual([{ a: 1 }]);
});

test('a MessagePack message of 16 KiB or more leaves bare in its own frame, uncopied, in order', () => {
  const writer = msgpackCodec.createWriter(1 << 20);
  const big = packr.pack({ t: 'frag', data: new Uint8Array(16 * 1024) });
  writer.piece(packr.pack({ a: 1 }));
  writer.piece(big);
  writer.piece(packr.pack({ a: 2 }));
  expect(writer.messages).toBe(3);
  expect(writer.bytes).toBeGreaterThan(16 * 1024);
  const frames = writer.take();
  expect(frames).toHaveLength(3);
  expect(frames[1]).toBe(big);
  expect(frames.map((f) => msgpackCodec.decode(wholeFrame(f), true))).toEqual([[{ a: 1 }], [packr.unpack(big)], [{ a: 2 }]]);
});

test('a message in pieces leaves as one message of several frames: its large pieces uncopied, small runs joined, in order', () => {
  const writer = new MsgpackFrameWriter(1 << 20);
  const payload = new Uint8Array(20_000).fill(9);
  const message = { t: 'frag', fid: 1, seq: 0, n: 3, size: 60_000, data: payload };
  const parts = packAroundData(message);
  writer.piece(packr.pack({ a: 1 }));
  writer.pieces(parts.parts);
  writer.piece(packr.pack({ a: 2 }));
  expect(writer.messages).toBe(3);
  expect(writer.bytes).toBeGreaterThan(parts.length);
  const frames = writer.take();
  expect(frames).toHaveLength(3);
  const inPieces = frames[1] as readonly Uint8Array[];
  expect(inPieces).toHaveLength(2); // the fields and the bin header joined, then the payload itself
  expect(inPieces[1]).toBe(payload);
  expect(frames.map((f) => msgpackCodec.decode(wholeFrame(f), true))).toEqual([[{ a: 1 }], [message], [{ a: 2 }]]);
});

test('a recycled frame buffer serves the next small frame of any writer; one not recycled is never written again', () => {
  const a = msgpackCodec.createWriter(1 << 20);
  const b = msgpackCodec.createWriter(1 << 20);
  a.piece(msgpackCodec.encode({ t: 'pub', topic: 'a', data: 1 }));
  const [first] = a.take() as Uint8Array[];
  const kept = Uint8Array.from(first!);
  // Not recycled (the socket still holds it): the next frames get other memory.
  b.piece(msgpackCodec.encode({ t: 'pub', topic: 'b', data: 2 }));
  const [second] = b.take() as Uint8Array[];
  expect(second!.buffer).not.toBe(first!.buffer);
  expect(first).toEqual(kept);
  // Recycled (the socket took it whole): the next small frame of another writer reuses it.
  a.recycle!();
  b.piece(msgpackCodec.encode({ t: 'pub', topic: 'c', data: 3 }));
  const [third] = b.take() as Uint8Array[];
  expect(third!.buffer).toBe(first!.buffer);
  expect(msgpackCodec.decode(third!, true)).toEqual([{ t: 'pub', topic: 'c', data: 3 }]);
  // A recycle with nothing sealed since gives nothing back twice.
  a.recycle!();
  b.recycle!();
  b.recycle!();
  const c = msgpackCodec.createWriter(1 << 20);
  const d = msgpackCodec.createWriter(1 << 20);
  c.piece(msgpackCodec.encode({ t: 'x' }));
  d.piece(msgpackCodec.encode({ t: 'y' }));
  const [fromC] = c.take() as Uint8Array[];
  const [fromD] = d.take() as Uint8Array[];
  expect(fromC!.buffer).not.toBe(fromD!.buffer);
});
