/**
 * Unit tests of the pure logic behind fragmentation: FragmentSender (pacing, round-robin, cut
 * points, fids) and FragmentAssembler (faults, memory release), over a fake Link.
 */
import { jsonCodec, msgpackCodec, packAroundData, Parts, type Codec, type Piece } from '../protocol/codec.js';
import type { ErrorCode, LindenError } from '../protocol/errors.js';
import { FragmentAssembler, ReassemblyBudget, type AssemblyLimits } from '../protocol/fragment-assembler.js';
import { FragmentSender } from '../protocol/fragment-sender.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { Link } from '../protocol/interceptor.js';
import { byteSize, fragment, isHighSurrogate, without, type Frag } from './helpers/fragments.js';


/** A link that records what is sent, with outbound bytes the test sets and drains by hand. */
class FakeLink implements Link {
  readonly side = 'broker' as const;
  readonly connectionId = 'c1';
  readonly maxMessageBytes = 1_000_000;
  readonly sent: Piece[] = [];
  readonly received: unknown[] = [];
  readonly failures: LindenError[] = [];
  readonly waiters: (() => void)[] = [];
  pending = 0;
  peer: Record<string, unknown> | undefined;
  peerMaxFrameBytes = 1024 * 1024;

  constructor(readonly codec: Codec) {}

  get pendingBytes(): number {
    return this.pending;
  }

  send(piece: Piece | Parts): void {
    this.sent.push(piece instanceof Parts ? piece.join() : piece);
    this.pending += piece.length;
  }

  receive(message: unknown): void {
    this.received.push(message);
  }

  fail(err: LindenError): void {
    this.failures.push(err);
  }

  peerExt(): Record<string, unknown> | undefined {
    return this.peer;
  }

  whenDrained(fn: () => void): void {
    this.waiters.push(fn);
  }

  /** The socket took everything: pending bytes to 0, drain waiters called. */
  drain(): void {
    this.pending = 0;
    for (const fn of this.waiters.splice(0)) fn();
  }

  /** What was sent, decoded (each piece is one message). */
  messages(): Frag[] {
    return this.sent.map((p) => this.codec.decode(p, typeof p !== 'string')[0] as Frag);
  }
}

/** Text with 1- to 4-byte UTF-8 characters and characters JSON escapes again inside a string. */
const MIXED = 'a"\\é€😀中\n';

function pubPiece(codec: Codec, text: string, topic = 'unit'): Piece {
  return codec.encode({ t: 'pub', topic, data: codec.packData({ text }) });
}


describe.each([msgpackCodec, jsonCodec])('FragmentSender ($name)', (codec) => {
  test('fragments of two messages take turns, and only seq 0 carries size', () => {
    const link = new FakeLink(codec);
    const sender = new FragmentSender(link, 1_000_000);
    link.pending = 1_000_000; // busy: both messages are queued before any fragment leaves
    const a = pubPiece(codec, 'a'.repeat(2500), 'a');
    const b = pubPiece(codec, 'b'.repeat(2500), 'b');
    sender.send(a, 1024);
    sender.send(b, 1024);
    expect(link.sent).toEqual([]);
    expect(link.waiters).toHaveLength(1);
    expect(sender.pending).toBe(2);
    link.drain();
    const frags = link.messages();
    const n = (frags[0]!.n as number);
    expect(n).toBeGreaterThanOrEqual(3);
    expect(frags.map((f) => [f.fid, f.seq])).toEqual(Array.from({ length: 2 * n }, (_, i) => [1 + (i % 2), Math.floor(i / 2)]));
    for (const f of frags) {
      expect(f.n).toBe(n);
      if (f.seq === 0) expect(f.size).toBe(byteSize(f.fid === 1 ? a : b));
      else expect(f).not.toHaveProperty('size');
    }
    expect(sender.pending).toBe(0);
    expect(link.waiters).toEqual([]);
  });

  test('stops at highWaterBytes and resumes on whenDrained, one waiter at a time', () => {
    const link = new FakeLink(codec);
    const highWater = 2500;
    const sender = new FragmentSender(link, highWater);
    const piece = pubPiece(codec, 'x'.repeat(20_000));
    sender.send(piece, 1024);
    let rounds = 0;
    while (sender.pending > 0) {
      rounds++;
      // Stopped right after crossing the high-water mark, not before and not later.
      expect(link.pending).toBeGreaterThanOrEqual(highWater);
      expect(link.pending - link.sent[link.sent.length - 1]!.length).toBeLessThan(highWater);
      expect(link.waiters).toHaveLength(1);
      const before = link.sent.length;
      sender.send(pubPiece(codec, 'late'), 1024); // queued: nothing leaves while over the mark
      expect(link.sent.length).toBe(before);
      link.drain();
      expect(link.sent.length).toBeGreaterThan(before);
    }
    expect(rounds).toBeGreaterThan(3);
    expect(link.waiters).toEqual([]);
    const frags = link.messages();
    expect(new Set(frags.map((f) => f.fid)).size).toBe(1 + rounds);
    const first = frags.filter((f) => f.fid === 1);
    expect(first.map((f) => f.seq)).toEqual(Array.from({ length: first.length }, (_, i) => i));
  });

  test('close() drops what is queued: nothing more leaves after a drain', () => {
    const link = new FakeLink(codec);
    const sender = new FragmentSender(link, 1);
    sender.send(pubPiece(codec, 'x'.repeat(5000)), 1024);
    expect(link.sent).toHaveLength(1);
    sender.close();
    link.drain();
    expect(link.sent).toHaveLength(1);
    expect(sender.pending).toBe(0);
  });

  test('fid wraps from 2^32 - 1 back to 1', () => {
    const link = new FakeLink(codec);
    const sender = new FragmentSender(link, 1_000_000);
    (sender as unknown as { nextFid: number }).nextFid = 0xffffffff;
    for (let i = 0; i < 3; i++) sender.send(pubPiece(codec, 'x'.repeat(3000)), 1024);
    expect([...new Set(link.messages().map((f) => f.fid))]).toEqual([0xffffffff, 1, 2]);
  });

  test.each([1024, 1025, 1026, 4096])('cut points with fragment size %i: within size, reassemble to the original', (size) => {
    for (let offset = 0; offset < 3; offset++) {
      const link = new FakeLink(codec);
      const piece = pubPiece(codec, 'a'.repeat(offset) + MIXED.repeat(800) + '😀'.repeat(2000));
      new FragmentSender(link, 1_000_000).send(piece, size);
      const frags = link.messages();
      for (const [i, f] of frags.entries()) {
        expect(byteSize(f.data)).toBeLessThanOrEqual(size);
        expect(byteSize(link.sent[i])).toBeLessThanOrEqual(size + 128); // the fields around data fit FRAG_OVERHEAD
        if (typeof f.data === 'string') {
          // Never inside a surrogate pair, and within size even escaped again as a JSON string.
          expect(isHighSurrogate(f.data.charCodeAt(f.data.length - 1))).toBe(false);
          expect(Buffer.byteLength(JSON.stringify(f.data)) - 2).toBeLessThanOrEqual(size);
        }
      }
      const joined = typeof piece === 'string' ? frags.map((f) => f.data).join('') : Buffer.concat(frags.map((f) => f.data as Uint8Array));
      expect(typeof piece === 'string' ? joined === piece : Buffer.compare(joined as Buffer, piece) === 0).toBe(true);
      const asm = assemblerFor(codec);
      for (const f of frags) asm.assembler.add(f);
      expect(asm.failures).toEqual([]);
      expect(asm.delivered).toEqual(codec.decode(piece, typeof piece !== 'string'));
    }
  });

  test('FragmentLink: whole towards a peer that did not announce; fragmented after; small messages overtake a paced large one', () => {
    const link = new FakeLink(codec);
    link.peerMaxFrameBytes = 3000;
    const hooks = fragmentation({ fragmentSize: 8192, highWaterBytes: 1 }).link!(link);
    const large = pubPiece(codec, 'L'.repeat(20_000));
    expect(hooks.minBytes).toBe(Infinity);
    hooks.send!(large);
    expect(link.sent).toEqual([large]);
    link.drain();
    link.sent.length = 0;
    link.peer = { size: 65_536 };
    expect(hooks.minBytes).toBe(3000 - 128 + 1); // min(own, peer, peerMaxFrameBytes - 128) + 1
    hooks.send!(large);
    expect(link.sent).toHaveLength(1);
    const small = pubPiece(codec, 'small');
    hooks.send!(small);
    expect(link.sent[1]).toBe(small);
    while (link.waiters.length > 0) link.drain();
    const frags = link.messages().filter((f) => f.t === 'frag');
    expect(frags.length).toBe(frags[0]!.n);
    for (const f of frags) expect(byteSize(f.data)).toBeLessThanOrEqual(3000 - 128);
    hooks.close!();
  });
});

function assemblerFor(codec: Codec, limits: Partial<AssemblyLimits> = {}) {
  const delivered: unknown[] = [];
  const failures: LindenError[] = [];
  const assembler = new FragmentAssembler(codec, { maxBytes: 100_000, maxAssemblies: 8, timeoutMs: 60_000, ...limits },
    (m) => delivered.push(m), (err) => failures.push(err));
  return { assembler, delivered, failures };
}


/** A fault: the frags up to it (after which the assembly must be gone) and that message's later frags. */
interface Fault { name: string; code: ErrorCode; build(f: Frag[], codec: Codec, total: number): { faulty: Frag[]; later: Frag[] } }

const FID = 5;
const FAULTS: Fault[] = [
  { name: 'skipped fragment', code: 'FRAGMENT_OUT_OF_ORDER', build: (f) => ({ faulty: [f[0]!, f[2]!], later: [f[1]!, f[3]!] }) },
  { name: 'first fragment with seq > 0', code: 'FRAGMENT_OUT_OF_ORDER', build: (f) => ({ faulty: [f[1]!], later: [f[2]!, f[3]!] }) },
  { name: 'duplicate', code: 'FRAGMENT_DUPLICATE', build: (f) => ({ faulty: [f[0]!, f[1]!, f[1]!], later: [f[2]!, f[3]!] }) },
  { name: 'n differs', code: 'FRAGMENT_TOTAL_MISMATCH', build: (f) => ({ faulty: [f[0]!, { ...f[1]!, n: 9 }], later: [f[2]!, f[3]!] }) },
  { name: 'seq >= n', code: 'FRAGMENT_TOTAL_MISMATCH', build: (f) => ({ faulty: [f[0]!, { ...f[1]!, seq: 4 }], later: [f[1]!, f[2]!, f[3]!] }) },
  { name: 'more bytes than size', code: 'FRAGMENT_TOTAL_MISMATCH',
    build: (f) => ({ faulty: [{ ...f[0]!, size: byteSize(f[0]!.data) }, f[1]!], later: [f[2]!, f[3]!] }) },
  { name: 'fewer bytes at the last', code: 'FRAGMENT_TOTAL_MISMATCH', build: (f, _c, total) => ({ faulty: [{ ...f[0]!, size: total + 1 }, ...f.slice(1)], later: [] }) },
  { name: 'size over maxBytes', code: 'MESSAGE_TOO_LARGE', build: (f) => ({ faulty: [{ ...f[0]!, size: 100_001 }], later: f.slice(1) }) },
  { name: 'first fragment without size', code: 'INVALID_FRAME', build: (f) => ({ faulty: [without(f[0]!, 'size')], later: f.slice(1) }) },
  { name: 'non-integer seq', code: 'INVALID_FRAME', build: (f) => ({ faulty: [f[0]!, { ...f[1]!, seq: 0.5 }], later: [f[2]!, f[3]!] }) },
  { name: 'missing n', code: 'INVALID_FRAME', build: (f) => ({ faulty: [f[0]!, without(f[1]!, 'n')], later: [f[2]!, f[3]!] }) },
  { name: 'data of the wrong type', code: 'INVALID_FRAME',
    build: (f, c) => ({ faulty: [f[0]!, { ...f[1]!, data: c.name === 'msgpack' ? 'text' : new Uint8Array(3) }], later: [f[2]!, f[3]!] }) },
  { name: 'a reassembled frag', code: 'INVALID_FRAME',
    build: (_f, c) => ({ faulty: fragment(c.encode({ t: 'frag', fid: 1, seq: 0, n: 1, size: 1, data: c.name === 'msgpack' ? new Uint8Array(1) : 'x' }), FID, 2), later: [] }) },
  { name: 'bytes that do not decode', code: 'DECODE_ERROR', build: (_f, c) => ({ faulty: fragment(c.encode({ t: 'ping', id: 1 }).slice(0, -2), FID, 2), later: [] }) },
];

describe.each([msgpackCodec, jsonCodec])('FragmentAssembler ($name)', (codec) => {
  const piece = pubPiece(codec, MIXED.repeat(100));

  test('reassembles interleaved messages, then holds nothing', () => {
    const { assembler, delivered, failures } = assemblerFor(codec);
    const a = fragment(piece, 1, 3);
    const b = fragment(pubPiece(codec, 'b'), 2, 2);
    for (const f of [a[0], b[0], a[1], b[1]]) assembler.add(f!);
    expect(assembler.pending).toBe(1);
    assembler.add(a[2]!);
    expect(failures).toEqual([]);
    expect(delivered).toEqual([...codec.decode(pubPiece(codec, 'b'), codec.name === 'msgpack'), ...codec.decode(piece, codec.name === 'msgpack')]);
    expect(assembler.pending).toBe(0);
  });

  test.each(FAULTS.map((f) => [f.name, f] as const))('%s: one error naming the fid, memory released, later fragments ignored', (_name, fault) => {
    const { assembler, delivered, failures } = assemblerFor(codec);
    const { faulty, later } = fault.build(fragment(piece, FID, 4), codec, byteSize(piece));
    for (const f of faulty) assembler.add(f);
    expect(failures.map((e) => e.code)).toEqual([fault.code]);
    expect(failures[0]!.details?.fid).toBe(FID);
    expect(assembler.pending).toBe(0);
    for (const f of later) assembler.add(f);
    expect(failures).toHaveLength(1);
    expect(assembler.pending).toBe(0);
    expect(delivered).toEqual([]);
    for (const f of fragment(piece, FID, 3)) assembler.add(f);
    expect(failures).toHaveLength(1);
    expect(delivered).toHaveLength(1);
    expect(assembler.pending).toBe(0);
  });

  test('FRAGMENT_LIMIT: the refused message holds nothing; the others finish and are released', () => {
    const { assembler, delivered, failures } = assemblerFor(codec, { maxAssemblies: 2 });
    const frags = [1, 2, 3].map((fid) => fragment(piece, fid, 2));
    for (const f of frags) assembler.add(f[0]!);
    expect(failures.map((e) => [e.code, e.details?.fid])).toEqual([['FRAGMENT_LIMIT', 3]]);
    expect(assembler.pending).toBe(2);
    for (const f of frags) assembler.add(f[1]!);
    expect(failures).toHaveLength(1);
    expect(delivered).toHaveLength(2);
    expect(assembler.pending).toBe(0);
  });

  /** A fragment of `bytes` bytes of data (its content never gets decoded in these tests). */
  const frag = (fid: number, seq: number, bytes: number, size?: number) =>
    ({ t: 'frag', fid, seq, n: 3, ...(size === undefined ? {} : { size }), data: codec.name === 'msgpack' ? new Uint8Array(bytes) : 'x'.repeat(bytes) });

  test('bytes count as they arrive: first fragments announcing large messages hold only their data', () => {
    const budget = new ReassemblyBudget(10_000);
    const { assembler, failures } = assemblerFor(codec, { maxBytes: 1000, budget, address: 'a' });
    for (let fid = 1; fid <= 8; fid++) assembler.add(frag(fid, 0, 1, 1000));
    expect(failures).toEqual([]);
    expect([assembler.pending, assembler.heldBytes, budget.held, budget.heldBy('a')]).toEqual([8, 8, 8, 8]);
    assembler.clear();
    expect([assembler.heldBytes, budget.held, budget.heldBy('a'), budget.addresses]).toEqual([0, 0, 0, 0]);
    assembler.add(frag(9, 0, 0, 1000)); // an empty slice holds nothing, not even an entry
    expect([assembler.pending, budget.addresses]).toEqual([1, 0]);
  });

  test('FRAGMENT_LIMIT per connection (default two largest messages): the fragment crossing it discards its message only', () => {
    const { assembler, failures } = assemblerFor(codec, { maxBytes: 1000 });
    assembler.add(frag(1, 0, 1000, 1000));
    assembler.add(frag(2, 0, 900, 1000));
    assembler.add(frag(2, 1, 100));
    expect(assembler.heldBytes).toBe(2000);
    assembler.add(frag(3, 0, 1, 10));
    expect(failures.map((e) => [e.code, e.details])).toEqual([['FRAGMENT_LIMIT', { fid: 3, seq: 0, held: 2000, scope: 'connection', limit: 2000 }]]);
    expect([assembler.pending, assembler.heldBytes]).toEqual([2, 2000]);
    // A message that could never fit is refused at its first fragment, before it holds anything.
    const small = assemblerFor(codec, { maxBytes: 1000, maxHeldBytes: 500 });
    small.assembler.add(frag(1, 0, 1, 501));
    expect(small.failures.map((e) => [e.code, e.details])).toEqual([['FRAGMENT_LIMIT', { fid: 1, size: 501, scope: 'connection', limit: 500 }]]);
    small.assembler.add(frag(2, 0, 1, 500));
    expect(small.assembler.pending).toBe(1);
  });

  test('FRAGMENT_LIMIT per address and for all: connections share the budget, each address its part of it', () => {
    const budget = new ReassemblyBudget(1500, 1000);
    const failures: LindenError[] = [];
    const on = (address: string) => new FragmentAssembler(codec, { maxBytes: 1000, maxAssemblies: 8, timeoutMs: 60_000, budget, address }, () => {}, (err) => failures.push(err));
    const [one, two, three] = [on('a'), on('a'), on('b')];
    one.add(frag(1, 0, 600, 1000));
    two.add(frag(1, 0, 400, 1000));
    expect(budget.heldBy('a')).toBe(1000);
    two.add(frag(1, 1, 1));
    expect(failures.map((e) => [e.code, e.details])).toEqual([['FRAGMENT_LIMIT', { fid: 1, seq: 1, held: 1000, scope: 'address', limit: 1000 }]]);
    expect([two.pending, budget.heldBy('a'), budget.held]).toEqual([0, 600, 600]);
    three.add(frag(1, 0, 900, 1000));
    expect(budget.held).toBe(1500);
    three.add(frag(1, 1, 1));
    expect(failures.map((e) => [e.code, e.details?.scope])).toEqual([['FRAGMENT_LIMIT', 'address'], ['FRAGMENT_LIMIT', 'all']]);
    // What ends releases everything it held, and an address without bytes leaves no entry behind.
    three.clear();
    one.clear();
    expect([budget.held, budget.addresses]).toEqual([0, 0]);
    // No address (the client side): only the total applies.
    const client = new FragmentAssembler(codec, { maxBytes: 2000, maxAssemblies: 8, timeoutMs: 60_000, budget }, () => {}, (err) => failures.push(err));
    client.add(frag(1, 0, 1500, 1500));
    expect([failures.length, budget.held, budget.addresses]).toEqual([2, 1500, 0]);
  });

  test('FRAGMENT_TIMEOUT releases the message; its later fragments are ignored', async () => {
    const delivered: unknown[] = [];
    const failures: LindenError[] = [];
    let timedOut!: () => void;
    const fired = new Promise<void>((resolve) => { timedOut = resolve; });
    const assembler = new FragmentAssembler(codec, { maxBytes: 100_000, maxAssemblies: 8, timeoutMs: 20 },
      (m) => delivered.push(m), (err) => { failures.push(err); timedOut(); });
    const frags = fragment(piece, FID, 3);
    assembler.add(frags[0]!);
    assembler.add(frags[1]!);
    expect(assembler.pending).toBe(1);
    await fired;
    expect(failures.map((e) => [e.code, e.details])).toEqual([['FRAGMENT_TIMEOUT', { fid: FID, received: 2, n: 3 }]]);
    expect(assembler.pending).toBe(0);
    assembler.add(frags[2]!);
    expect(failures).toHaveLength(1);
    expect(delivered).toEqual([]);
  });

  test('clear() drops every partial message', () => {
    const { assembler } = assemblerFor(codec);
    for (const fid of [1, 2, 3]) assembler.add(fragment(piece, fid, 2)[0]!);
    expect(assembler.pending).toBe(3);
    assembler.clear();
    expect(assembler.pending).toBe(0);
  });
});

test('a MessagePack fragment is copied: the frame buffer it arrived in can be reused', () => {
  const piece = pubPiece(msgpackCodec, MIXED.repeat(100)) as Uint8Array;
  const expected = msgpackCodec.decode(Uint8Array.from(piece), true);
  const frame = Buffer.from(piece); // the decoder hands out bins as views into the frame
  const cut = 100;
  const delivered: unknown[] = [];
  const assembler = new FragmentAssembler(msgpackCodec, { maxBytes: 100_000, maxAssemblies: 8, timeoutMs: 60_000 }, (m) => delivered.push(m), () => {});
  assembler.add({ fid: 1, seq: 0, n: 2, size: piece.length, data: frame.subarray(0, cut) });
  frame.fill(0);
  assembler.add({ fid: 1, seq: 1, n: 2, data: piece.subarray(cut) });
  expect(delivered).toEqual(expected);
});

test('packAroundData: the fields encoded, then the payload bytes uncopied; decodes as the whole message', () => {
  const data = msgpackCodec.packData(new Uint8Array(70_000).fill(7)) as Uint8Array;
  for (const message of [{ t: 'pub', topic: 'a.b', data, ack: 'delivery', id: 5_000_000_000 }, { t: 'pub', topic: 'x', data: data.subarray(0, 200) }]) {
    const parts = packAroundData(message);
    expect(parts.parts.at(-1)).toBe(message.data);
    expect(msgpackCodec.decode(parts.join(), true)).toEqual(msgpackCodec.decode(msgpackCodec.encode(message) as Uint8Array, true));
  }
});
