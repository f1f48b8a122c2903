/**
 * The built-in W3C trace-context interceptor (protocol/trace-context.ts, protocol.md §3.5.1):
 * traceparent parsing and generation by the W3C rules, what each side stamps, and a trace id
 * carried from a publisher through the broker to a consumer and to a tuple taker.
 */
import { msgpackCodec } from '../protocol/codec.js';
import type { Frame, InterceptorContext } from '../protocol/interceptor.js';
import { childOf, newTraceparent, parseTraceparent, traceContext } from '../protocol/trace-context.js';
import { take, testBroker } from './helpers/setup.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const SHAPE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const client: InterceptorContext = { side: 'client', connectionId: '', codec: msgpackCodec };
const broker: InterceptorContext = { side: 'broker', connectionId: 'c1', codec: msgpackCodec };

/** Runs a hook synchronously (the built-in never returns a promise) and returns the frame it leaves. */
function run(hook: ((f: Frame, c: InterceptorContext) => unknown) | undefined, frame: Frame, ctx: InterceptorContext): Frame {
  const out = hook!(frame, ctx);
  expect(out).not.toBeInstanceOf(Promise);
  return (out as Frame | undefined) ?? frame;
}

const traceparentOf = (f: Frame) => (f.hdr as Record<string, string> | undefined)?.traceparent;

describe('parseTraceparent', () => {
  test('reads the four fields of a valid value', () => {
    expect(parseTraceparent(VALID)).toEqual({ version: '00', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' });
    expect(parseTraceparent(VALID.replace(/-01$/, '-00'))?.flags).toBe('00');
  });

  test.each([
    ['empty', ''],
    ['too short', VALID.slice(0, -1)],
    ['version 00 with more after the flags', VALID + '-extra'],
    ['version ff', 'ff' + VALID.slice(2)],
    ['upper-case hex', VALID.toUpperCase()],
    ['non-hex trace id', VALID.replace('4bf9', 'xyz9')],
    ['non-hex flags', VALID.replace(/-01$/, '-0g')],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['wrong separators', VALID.replace(/-/g, '_')],
    ['a trace id one digit short', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01x'],
    ['a later version followed by junk without a dash', '01' + VALID.slice(2) + 'junk'],
  ])('refuses %s', (_why, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  test('a later version may carry more fields after a dash', () => {
    expect(parseTraceparent('cc' + VALID.slice(2) + '-what-comes-next')).toMatchObject({ version: 'cc', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
  });
});

describe('generation', () => {
  test('a new trace: version 00, random non-zero ids, sampled', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const tp = newTraceparent();
      const [, traceId, spanId, flags] = SHAPE.exec(tp)!;
      expect(parseTraceparent(tp)).toBeDefined();
      expect(flags).toBe('01');
      seen.add(traceId!);
      seen.add(spanId!);
    }
    expect(seen.size).toBe(400);
  });

  test('a child keeps the trace id and flags, with a new span id, written as version 00', () => {
    const parent = parseTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more')!;
    const child = parseTraceparent(childOf(parent))!;
    expect(child).toMatchObject({ version: '00', traceId: parent.traceId, flags: '00' });
    expect(child.parentId).not.toBe(parent.parentId);
  });
});

describe('the interceptor', () => {
  const i = traceContext();

  test('client: stamps pub and out without a traceparent, keeping their other headers', () => {
    const pub = run(i.outbound, { t: 'pub', topic: 'a', data: new Uint8Array([1]) }, client);
    expect(traceparentOf(pub)).toMatch(SHAPE);
    const out = run(i.outbound, { t: 'out', space: 's', tuple: [1], hdr: { k: 'v' } }, client);
    expect(out.hdr).toEqual({ k: 'v', traceparent: expect.stringMatching(SHAPE) });
    expect(run(i.outbound, { t: 'sub', id: 1, sid: 1, pattern: '>' }, client)).toEqual({ t: 'sub', id: 1, sid: 1, pattern: '>' });
  });

  test('client: a traceparent the application set is left alone, even an invalid one (the broker judges)', () => {
    for (const tp of [VALID, 'garbage']) {
      const frame = { t: 'pub', topic: 'a', data: 1, hdr: { traceparent: tp } };
      expect(run(i.outbound, frame, client)).toBe(frame);
    }
  });

  test('client: with current(), a child of the active span; an invalid current starts a new trace', () => {
    const child = run(traceContext({ current: () => VALID }).outbound, { t: 'pub', topic: 'a', data: 1 }, client);
    const [, traceId, spanId] = SHAPE.exec(traceparentOf(child)!)!;
    expect([traceId, spanId === '00f067aa0ba902b7']).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', false]);
    const fresh = run(traceContext({ current: () => 'nonsense' }).outbound, { t: 'pub', topic: 'a', data: 1 }, client);
    expect(SHAPE.exec(traceparentOf(fresh)!)![1]).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(run(traceContext({ current: () => undefined }).outbound, { t: 'out', space: 's', tuple: [1] }, client).hdr).toBeDefined();
  });

  test('client: a frame already holding 32 headers is left for the broker to stamp', () => {
    const hdr = Object.fromEntries(Array.from({ length: 32 }, (_, n) => [`k${n}`, 'v']));
    const frame = { t: 'pub', topic: 'a', data: 1, hdr };
    expect(run(i.outbound, frame, client)).toBe(frame);
  });

  test('client: inbound frames and the broker outbound are untouched', () => {
    expect(i.inbound!({ t: 'msg', sid: 1, topic: 'a', mid: 'm', data: 1 }, client)).toBeUndefined();
    expect(i.outbound!({ t: 'msg', sid: 1, topic: 'a', mid: 'm', data: 1 }, broker)).toBeUndefined();
    expect(i.outbound!({ t: 'pub', topic: 'a', data: 1 }, broker)).toBeUndefined();
  });

  test('broker: a valid traceparent gets the broker hop (same trace and flags, new span); tracestate stays', () => {
    const frame = { t: 'pub', topic: 'a', data: 1, hdr: { traceparent: VALID.replace(/-01$/, '-00'), tracestate: 'congo=t61rcWkgMzE', k: 'v' } };
    const out = run(i.inbound, frame, broker);
    const [, traceId, spanId, flags] = SHAPE.exec(traceparentOf(out)!)!;
    expect([traceId, flags]).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', '00']);
    expect(spanId).not.toBe('00f067aa0ba902b7');
    expect(out.hdr).toMatchObject({ tracestate: 'congo=t61rcWkgMzE', k: 'v' });
    expect(frame.hdr.traceparent).toBe(VALID.replace(/-01$/, '-00')); // the original frame is not changed
  });

  test('the out steps of a batch are stamped like out frames, on both sides; other steps are left alone', () => {
    const batch = {
      t: 'batch', id: 1, space: 's',
      steps: [{ op: 'inp', template: [1] }, { op: 'out', tuple: [2] }, { op: 'out', tuple: [3], hdr: { traceparent: VALID } }],
    };
    const stamped = run(i.outbound, batch, client);
    const steps = stamped.steps as { op: string; hdr?: { traceparent?: string } }[];
    expect(steps[0]).toBe(batch.steps[0]);
    expect(steps[1]!.hdr!.traceparent).toMatch(SHAPE);
    expect(steps[2]).toBe(batch.steps[2]);
    const hopped = (run(i.inbound, stamped, broker).steps as { hdr?: { traceparent?: string } }[]).map((step) => step.hdr?.traceparent);
    expect(hopped[0]).toBeUndefined();
    expect(SHAPE.exec(hopped[1]!)![1]).toBe(SHAPE.exec(steps[1]!.hdr!.traceparent!)![1]);
    expect(SHAPE.exec(hopped[2]!)![1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(hopped[2]).not.toBe(VALID);
  });

  test('broker: a missing or invalid traceparent is replaced by a new trace', () => {
    for (const hdr of [undefined, { traceparent: 'ff' + VALID.slice(2) }, { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }]) {
      const out = run(i.inbound, { t: 'out', space: 's', tuple: [1], ...(hdr ? { hdr } : {}) }, broker);
      expect(traceparentOf(out)).toMatch(SHAPE);
      expect(SHAPE.exec(traceparentOf(out)!)![1]).not.toBe('0'.repeat(32));
    }
  });
});

describe('end to end', () => {
  // One broker with the interceptor for both tests (options with functions cannot go through
  // shared-brokers.ts); their topics and spaces differ, and their clients close with the broker.
  const t = testBroker();
  beforeAll(() => t.start({ interceptors: [traceContext()] }));
  afterAll(() => t.cleanup());

  test('a consumer and a tuple taker see the publisher\'s trace id, with the broker\'s span', async () => {
    const active = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const publisher = await t.client({ interceptors: [traceContext({ current: () => active })] });
    const consumer = await t.client({ interceptors: [traceContext()], codec: 'json' });
    const sub = consumer.subscribe('traced.>');
    await sub.ready;
    await publisher.publish('traced.a', { n: 1 });
    await publisher.publish('traced.b', { n: 2 }, { ack: 'submission', headers: { traceparent: VALID, tracestate: 'x=1' } });
    const [first, second] = await take(sub, 2);
    expect(SHAPE.exec(first!.headers.traceparent!)![1]).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(first!.headers.traceparent!.split('-')[2]).not.toBe('b7ad6b7169203331');
    expect(SHAPE.exec(second!.headers.traceparent!)![1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(second!.headers.tracestate).toBe('x=1');

    await publisher.space('traced').out(['job', 1]);
    const entry = await consumer.space('traced').in(['job', 1], { entry: true });
    expect(SHAPE.exec(entry!.headers.traceparent!)![1]).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  test('a client without the interceptor still gets a trace started by the broker', async () => {
    const plain = await t.client();
    const sub = plain.subscribe('x');
    await sub.ready;
    await plain.publish('x', 1);
    const [m] = await take(sub, 1);
    expect(m!.headers.traceparent).toMatch(SHAPE);
  });
});
