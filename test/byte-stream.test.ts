/**
 * The pieces of forwarding a large `pub` as it arrives (issue 14): reading its fields from the
 * first fragment, the stream its payload grows in, the sender that cuts fragments only from
 * bytes that have arrived, and `abort` on the receiving side.
 */
import { msgpackCodec, packr, Parts } from '../protocol/codec.js';
import { ByteStream, StreamedBytes, StreamedParts } from '../protocol/byte-stream.js';
import { readStreamHead } from '../protocol/stream-head.js';
import { FragmentAssembler } from '../protocol/fragment-assembler.js';
import { FragmentSender } from '../protocol/fragment-sender.js';
import { LindenError } from '../protocol/errors.js';
import type { Link } from '../protocol/interceptor.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('readStreamHead', () => {
  test('a map whose last entry is data: its other fields, and where the payload begins', () => {
    const message = packr.pack({ t: 'pub', topic: 'a.b', id: 7, hdr: { k: ['v', 1] }, data: Buffer.alloc(300, 9) });
    const head = readStreamHead(message.subarray(0, 60), msgpackCodec);
    expect(head?.fields).toEqual({ t: 'pub', topic: 'a.b', id: 7, hdr: { k: ['v', 1] } });
    expect(head?.dataLength).toBe(300);
    expect(message.length - head!.dataOffset).toBe(300);
  });

  test.each([
    ['data not last', packr.pack({ t: 'pub', data: Buffer.alloc(300), topic: 'a' })],
    ['data not a bin', packr.pack({ t: 'pub', topic: 'a', data: 'text' })],
    ['not a map', packr.pack([{ t: 'pub' }])],
    ['the fields cut off before data', packr.pack({ t: 'pub', topic: 'x'.repeat(100), data: Buffer.alloc(10) }).subarray(0, 40)],
    ['a bin header cut off', packr.pack({ t: 'pub', data: Buffer.alloc(70_000) }).subarray(0, 15)],
    ['nothing', new Uint8Array(0)],
  ])('undefined (the message is reassembled whole) for %s', (_name, message) => {
    expect(readStreamHead(message, msgpackCodec)).toBeUndefined();
  });
});

describe('ByteStream', () => {
  test('readers read what arrived, across slices, moving forward', () => {
    const s = new ByteStream(6);
    const r = s.reader();
    s.append(bytes(1, 2));
    s.append(bytes(3, 4, 5));
    s.seal();
    expect(r.read(0, 1).map((p) => [...p])).toEqual([[1]]);
    expect(r.read(1, 4).map((p) => [...p])).toEqual([[2], [3, 4]]);
    s.append(bytes(6));
    s.finish();
    expect(r.read(4, 6).map((p) => [...p])).toEqual([[5], [6]]);
  });

  test('collect(): the whole bytes once complete, slices before and after it included', () => {
    const s = new ByteStream(4);
    s.append(bytes(1, 2));
    let whole: number[] | undefined;
    s.collect((b) => { whole = [...b]; });
    s.append(bytes(3, 4));
    expect(whole).toBeUndefined();
    s.finish();
    expect(whole).toEqual([1, 2, 3, 4]);
  });

  test('abort(): ends it with the error; nothing more is taken', () => {
    const s = new ByteStream(4);
    const ends: Array<string | undefined> = [];
    s.onEnd((err) => ends.push(err?.code));
    s.abort(new LindenError('DISCONNECTED', 'gone'));
    s.append(bytes(1));
    s.finish();
    expect([ends, s.received, s.complete]).toEqual([['DISCONNECTED'], 0, false]);
  });

  test('throttleInput: pauses the input a window ahead of the slowest reader, resumes at half of it', () => {
    const s = new ByteStream(100);
    const [fast, slow] = [s.reader(), s.reader()];
    s.seal();
    const calls: string[] = [];
    s.throttleInput(4, 60_000, () => calls.push('pause'), () => calls.push('resume'));
    s.append(bytes(1, 2, 3, 4));
    expect(calls).toEqual([]);
    s.append(bytes(5));
    expect(calls).toEqual(['pause']);
    fast.read(0, 5);
    expect(calls).toEqual(['pause']); // the slow one still holds it back
    slow.read(0, 3);
    expect([calls, s.lag]).toEqual([['pause', 'resume'], 2]);
    s.release(slow); // its receiver is gone: only the fast one counts
    expect(s.lag).toBe(0);
    s.append(bytes(6, 7, 8, 9, 10));
    s.abort(new LindenError('DISCONNECTED', 'gone'));
    expect(calls).toEqual(['pause', 'resume', 'pause', 'resume']);
  });

  test('throttleInput: a reader that holds the input back for the grace stops counting, and still reads all of it', async () => {
    const s = new ByteStream(6);
    const [fast, stuck] = [s.reader(), s.reader()];
    s.seal();
    const resumed = new Promise<void>((resolve) => s.throttleInput(2, 20, () => {}, resolve));
    s.append(bytes(1, 2, 3));
    fast.read(0, 3);
    await resumed;
    expect(s.lag).toBe(0);
    s.append(bytes(4, 5, 6));
    expect(stuck.read(0, 6).map((p) => [...p])).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  test('StreamedBytes is empty bytes to a type check, and its slices are plain', () => {
    const b = new StreamedBytes(new ByteStream(10));
    expect(b).toBeInstanceOf(Uint8Array);
    expect(b.length).toBe(0);
    expect(b.subarray(0, 0)).not.toBeInstanceOf(StreamedBytes);
  });
});

/** A link that keeps what is sent, never congested. */
function keepingLink(): Link & { sent: Array<Uint8Array | Parts | string> } {
  const sent: Array<Uint8Array | Parts | string> = [];
  return {
    side: 'broker', connectionId: 'c', codec: msgpackCodec, sent,
    send: (p: Uint8Array | Parts | string) => { sent.push(p); },
    receive: () => {}, fail: () => {}, pendingBytes: 0, maxMessageBytes: 1 << 20, peerMaxFrameBytes: 1 << 20,
    peerExt: () => undefined, whenDrained: (fn: () => void) => setImmediate(fn),
  } as unknown as Link & { sent: Array<Uint8Array | Parts | string> };
}

function decode(piece: Uint8Array | Parts | string): Record<string, unknown> {
  return packr.unpack(piece instanceof Parts ? piece.join() : piece as Uint8Array) as Record<string, unknown>;
}

describe('FragmentSender with a message still arriving', () => {
  test('cuts only what has arrived, waits for more, and the fragments join to head + payload + tail', async () => {
    const link = keepingLink();
    const sender = new FragmentSender(link, 1 << 20);
    const stream = new ByteStream(10);
    sender.send(new StreamedParts(bytes(0xa0, 0xa1), stream.reader(), bytes(0xb0)), 4);
    stream.seal();
    expect(link.sent).toEqual([]); // 2 bytes of 13: not a whole fragment yet
    expect(sender.queuedBytes).toBe(2);
    stream.append(bytes(1, 2, 3, 4, 5));
    await new Promise(setImmediate);
    expect(link.sent.map((p) => decode(p).seq)).toEqual([0]);
    stream.append(bytes(6, 7, 8, 9, 10));
    stream.finish();
    await new Promise(setImmediate);
    const frags = link.sent.map(decode);
    expect(frags.map((f) => [f.seq, f.n])).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    expect([...Buffer.concat(frags.map((f) => f.data as Uint8Array))]).toEqual([0xa0, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xb0]);
    expect(sender.queuedBytes).toBe(0);
  });

  test('a message broken off upstream: an abort to a receiver that had some of it, nothing to one that had none', async () => {
    const link = keepingLink();
    const sender = new FragmentSender(link, 1 << 20);
    const started = new ByteStream(10);
    const unstarted = new ByteStream(10);
    sender.send(new StreamedParts(bytes(0xa0), started.reader()), 4);
    sender.send(new StreamedParts(bytes(0xa0), unstarted.reader()), 4);
    started.append(bytes(1, 2, 3, 4));
    await new Promise(setImmediate);
    started.abort(new LindenError('DISCONNECTED', 'gone'));
    unstarted.abort(new LindenError('DISCONNECTED', 'gone'));
    await new Promise(setImmediate);
    expect(link.sent.map(decode)).toEqual([
      expect.objectContaining({ fid: 1, seq: 0 }),
      { t: 'frag', fid: 1, seq: 2, n: 3, data: new Uint8Array(0), abort: true },
    ]);
  });
});

test('FragmentAssembler: abort drops a partial message without an error, and frees its bytes', () => {
  const failures: LindenError[] = [];
  const assembler = new FragmentAssembler(msgpackCodec, { maxBytes: 1000, maxAssemblies: 8, timeoutMs: 60_000 }, () => {}, (e) => failures.push(e));
  assembler.add({ fid: 3, seq: 0, n: 2, size: 10, data: bytes(1, 2, 3) });
  expect([assembler.pending, assembler.heldBytes]).toEqual([1, 3]);
  assembler.add({ fid: 3, seq: 1, n: 2, data: new Uint8Array(0), abort: true });
  expect([assembler.pending, assembler.heldBytes, failures]).toEqual([0, 0, []]);
});

test('FragmentAssembler on the broker: a pub goes on at its first fragment, its payload a stream the rest feed', () => {
  const delivered: Array<Record<string, unknown>> = [];
  const assembler = new FragmentAssembler(msgpackCodec, { maxBytes: 100_000, maxAssemblies: 8, timeoutMs: 60_000, streamsPublishes: () => true },
    (m) => delivered.push(m as Record<string, unknown>), () => {});
  const message = packr.pack({ t: 'pub', topic: 'a', data: Buffer.alloc(3000, 7) });
  assembler.add({ fid: 1, seq: 0, n: 3, size: message.length, data: message.subarray(0, 1000) });
  expect(delivered).toEqual([{ t: 'pub', topic: 'a', data: expect.any(StreamedBytes) }]);
  const stream = (delivered[0]!.data as StreamedBytes).stream;
  expect([stream.length, stream.received]).toEqual([3000, 1000 - (message.length - 3000)]);
  assembler.add({ fid: 1, seq: 1, n: 3, data: message.subarray(1000, 2000) });
  assembler.add({ fid: 1, seq: 2, n: 3, data: message.subarray(2000) });
  expect([stream.received, stream.complete, assembler.heldBytes]).toEqual([3000, true, 0]);
});
