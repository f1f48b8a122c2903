/**
 * protocol.md §4.6: every number and string a client sends has a ceiling. Driven by the frame
 * schemas themselves (helpers/schema-limits.ts): each field is sent, on a real broker and in both
 * codecs, at its ceiling (accepted: no INVALID_FRAME) and one beyond it (INVALID_FRAME naming the
 * field, or the typed error of a field checked outside the schemas).
 */
import { packr } from '../protocol/codec.js';
import { MAX_ECHO } from '../protocol/echo.js';
import type { CodecName } from '../protocol/version.js';
import { type RawClient, type Received } from './helpers/raw-client.js';
import { schemaLimits, TYPED_LIMITS, type FieldLimit } from './helpers/schema-limits.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const CODECS: CodecName[] = ['json', 'msgpack'];
const SPACE = 'limits';

type Message = Record<string, unknown>;

/** A minimal valid message of each type; `field` picks a variant where a field needs company. */
function base(c: RawClient, t: string, field: string): Message {
  switch (t) {
    case 'hello': {
      if (field === 'auth.user' || field === 'auth.password') return { t, id: 1, v: 1, auth: { user: 'u', password: 'p' } };
      if (field === 'auth.token') return { t, id: 1, v: 1, auth: { token: 't' } };
      if (field === 'auth.jwt') return { t, id: 1, v: 1, auth: { jwt: 'j' } };
      if (field.startsWith('ext.fragmentation')) return { t, id: 1, v: 1, ext: { fragmentation: { size: 65_536 } } };
      if (field.startsWith('ext.*')) return { t, id: 1, v: 1, ext: { x: { a: 1 } } };
      if (field.startsWith('will.')) return { t, id: 1, v: 1, will: { topic: 'limits.will', data: c.data(1) } };
      return { t, id: 1, v: 1, ext: { x: {} } };
    }
    case 'ping': return { t, id: c.id() };
    case 'pong': return { t, re: 1 };
    case 'sub': {
      const sub = { t, id: c.id(), sid: c.id(), pattern: 'limits.>' };
      if (field === 'start.seq') return { ...sub, stream: 'limits-log', start: { seq: 1 } };
      if (field === 'start.time') return { ...sub, stream: 'limits-log', start: { time: 1 } };
      if (field === 'stream' || field === 'reader') return { ...sub, stream: 'limits-log', reader: 'r' };
      return ['id', 'sid', 'group', 'pattern'].includes(field) ? sub : { ...sub, durable: 'limits' };
    }
    case 'unsub': return { t, id: c.id(), sid: 1 };
    case 'pub': {
      const pub = { t, topic: 'limits.x', data: c.data(1), hdr: { a: 'v' } };
      return field === 'ttl' ? { ...pub, mode: 'persistent' } : pub;
    }
    case 'rcv': return { t, tags: [1] };
    case 'ack': case 'working': return { t, tag: 1 };
    case 'nack': return { t, tag: 1 };
    case 'qcreate': return { t, id: c.id(), name: 'limits', pattern: 'limits.>' };
    case 'qdelete': return { t, id: c.id(), name: 'nothing' };
    case 'unschedule': return { t, id: c.id(), sched: 'nothing' };
    case 'screate': return { t, id: c.id(), name: 'limits-log', pattern: 'limits.>', maxAge: 1_000 };
    case 'sdelete': return { t, id: c.id(), name: 'nothing' };
    case 'out': return { t, space: SPACE, tuple: [1], hdr: { a: 'v' } };
    case 'in': case 'rd': return { t, id: c.id(), space: SPACE, template: [1], wait: false };
    case 'count': return { t, id: c.id(), space: SPACE, template: [1] };
    case 'abort': return { t, id: c.id(), target: 1 };
    case 'notify': return { t, id: c.id(), nid: c.id(), space: SPACE, template: [1] };
    case 'unnotify': return { t, id: c.id(), nid: 1 };
    case 'renew': return { t, id: c.id(), space: SPACE, tid: 'zz', ttl: 1_000 };
    case 'cancel': return { t, id: c.id(), space: SPACE, tid: 'zz' };
    case 'batch': {
      const out = /^steps\[\]\.(tuple|ttl|hdr)/.test(field) || field === 'steps';
      return { t, id: c.id(), space: SPACE, steps: [out ? { op: 'out', tuple: [1], hdr: { a: 'v' } } : { op: 'rdp', template: [1] }] };
    }
    case 'settle': return { t, id: c.id(), rid: 'zz', ok: false };
    case 'admin': {
      if (field === 'connection') return { t, id: c.id(), op: 'kick', connection: 'nobody' };
      if (field === 'peek') return { t, id: c.id(), op: 'space', name: SPACE };
      return { t, id: c.id(), op: field === 'name' ? 'queue' : 'queues', ...(field === 'name' ? { name: 'nothing' } : {}) };
    }
    case 'frag': {
      // A whole `ping` in one fragment, in this codec's encoding.
      const inner = { t: 'ping', id: c.id() };
      const data = c.codec === 'msgpack' ? packr.pack(inner) : JSON.stringify(inner);
      return { t, fid: c.id(), seq: 0, n: 1, size: Buffer.byteLength(data), data };
    }
    default: throw new Error(`no base message for "${t}"`);
  }
}

/** A string of `n` characters that passes every other rule of its field. */
function text(l: { t: string; path: string }, n: number): string {
  // A queue name over 124 characters can only name a dead-letter queue (protocol.md §9.5).
  if ((l.t === 'sub' && l.path === 'durable') || (l.t === 'qcreate' && l.path === 'name')) return `${'a'.repeat(n - 4)}.dlq`;
  return 'a'.repeat(n);
}

/**
 * `message` with the field at `l.path` set so that it measures `n` (a number, characters,
 * items or entries), and the dotted path an error names for it (`steps.0.ttl`, `hdr.k`).
 */
function withSize(message: Message, l: FieldLimit, n: number): { message: Message; field: string } {
  const tokens = l.path.match(/[^.[\]{}*]+|\[\]|\{\}|\*/g)!;
  const named: string[] = [];
  const set = (container: unknown, i: number): unknown => {
    const token = tokens[i]!;
    const last = i === tokens.length - 1;
    if (token === '{}') {
      // A map with one name of n characters, its value as the map's first one.
      const sample = Object.values(container as Message)[0] ?? {};
      return { [text(l, n)]: sample };
    }
    if (token === '[]') {
      const items = [...(container as unknown[])];
      named.push('0');
      items[0] = last ? leaf(items[0]) : set(items[0], i + 1);
      return items;
    }
    const key = token === '*' ? Object.keys(container as Message)[0]! : token;
    named.push(key);
    const current = (container as Message)[key];
    return { ...(container as Message), [key]: last ? leaf(current) : set(current, i + 1) };
  };
  const leaf = (current: unknown): unknown => {
    switch (l.kind) {
      case 'maximum': return n;
      case 'maxLength': return text(l, n);
      case 'maxItems': return Array.from({ length: n }, () => (current as unknown[])[0]);
      case 'maxProperties': {
        const sample = Object.values(current as Message)[0];
        return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, sample]));
      }
    }
  };
  return { message: set(message, 0) as Message, field: named.join('.') };
}

/** Sends `message` and returns the errors it caused (everything answered before a ping's pong). */
async function errorsOf(c: RawClient, message: Message): Promise<Received[]> {
  c.send(message);
  await c.sync();
  const errors: Received[] = [];
  for (let m = c.poll(() => true); m; m = c.poll(() => true)) if (m.t === 'err') errors.push(m);
  return errors;
}

/** hello goes on a fresh connection: after the handshake a second one is refused whatever it holds. */
async function helloErrors(url: string, codec: CodecName, message: Message): Promise<Received[]> {
  const c = await raw.open(url, codec);
  const reply = await c.call(message as Message & { id: number });
  await c.close();
  return reply.t === 'err' ? [reply] : [];
}

const { limits } = schemaLimits();
const label = (l: { t: string; path: string; kind: string; limit: number }): string => `${l.t} ${l.path} (${l.kind} ${l.limit})`;

describe.each(CODECS)('%s codec', (codec) => {
  test('every field at its ceiling is accepted, one beyond it is INVALID_FRAME naming the field', async () => {
    // maxArity at its own ceiling, so that a tuple of 1024 fields is taken whole.
    const broker = await t.start({ maxArity: 1024 });
    const c = await raw.connect(broker.url, codec);
    const seen: string[] = [];
    for (const l of limits) {
      for (const n of [l.limit, l.limit + 1]) {
        const { message, field } = withSize(base(c, l.t, l.path), l, n);
        const errors = l.t === 'hello' ? await helloErrors(broker.url, codec, message) : await errorsOf(c, message);
        const invalid = errors.filter((e) => e.code === 'INVALID_FRAME').map((e) => (e.details?.field as string | undefined) ?? '(no field)');
        seen.push(`${label(l)} = ${n}: ${invalid.join(', ') || 'accepted'}`);
      }
    }
    const expected = limits.flatMap((l) => {
      const { field } = withSize(base(c, l.t, l.path), l, l.limit);
      return [`${label(l)} = ${l.limit}: accepted`, `${label(l)} = ${l.limit + 1}: ${field}`];
    });
    expect(seen).toEqual(expected);
  });

  test('topics and patterns: 512 characters are accepted, 513 get their typed error', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    for (const l of TYPED_LIMITS) {
      for (const n of [l.limit, l.limit + 1]) {
        const { message } = withSize(base(c, l.t, l.path), { ...l, kind: 'maxLength' }, n);
        const codes = (await errorsOf(c, message)).map((e) => e.code as string);
        expect({ field: `${l.t} ${l.path}`, n, codes }).toEqual({ field: `${l.t} ${l.path}`, n, codes: n > l.limit ? [l.code] : [] });
      }
    }
  });
});

describe.each(CODECS)('%s codec: an error quotes at most a short prefix of a bad value', (codec) => {
  test('an unknown message type of 100,000 characters', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    const long = `x${'y'.repeat(99_999)}`;
    const err = await c.call({ t: long, id: 5 });
    expect(err).toMatchObject({ t: 'err', code: 'UNKNOWN_FRAME_TYPE', re: 5, details: { t: `x${'y'.repeat(MAX_ECHO - 2)}…` } });
    expect(err.message.length).toBeLessThan(100);
  });
});

test('the walk covers every message type that has a field with a ceiling', () => {
  expect(new Set(limits.map((l) => l.t))).toEqual(new Set([
    'hello', 'ping', 'pong', 'sub', 'unsub', 'pub', 'rcv', 'ack', 'nack', 'working', 'qcreate', 'qdelete', 'unschedule', 'screate', 'sdelete',
    'out', 'in', 'rd', 'count', 'abort', 'notify', 'unnotify', 'renew', 'cancel', 'batch', 'frag', 'settle', 'admin',
  ]));
});

test('every integer, string, array and open map of the client schemas has a ceiling', () => {
  const typed = new Set(TYPED_LIMITS.map((l) => `${l.t} ${l.path}`));
  const { unbounded } = schemaLimits();
  expect(unbounded.filter((u) => !typed.has(`${u.t} ${u.path}`)).map((u) => `${u.t} ${u.path}: ${u.what}`)).toEqual([]);
});
