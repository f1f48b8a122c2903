/**
 * A transient space exists while it holds something — tuples (reserved ones too), waiting
 * requests or notify subscriptions — and goes once it holds nothing; requests that only look
 * never create one (protocol.md §10.1). Seen through the admin `spaces` view, raw frames, both codecs.
 */
import type { CodecName } from '../protocol/version.js';
import { rawClients, type RawClient, type Received } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

async function spaces(c: RawClient): Promise<string[]> {
  const report = await c.call({ t: 'admin', id: c.id(), op: 'spaces' });
  return (report.result as { name: string }[]).map((s) => s.name);
}

/**
 * The view once a closed connection has been let go of: the broker learns of the close on its own
 * socket, which may come after this client's next request; each try is one round trip.
 */
async function spacesOnceSettled(c: RawClient): Promise<string[]> {
  let names = await spaces(c);
  for (let tries = 0; names.length > 0 && tries < 200; tries++) names = await spaces(c);
  return names;
}

describe.each(['json', 'msgpack'] as CodecName[])('%s codec', (codec) => {
  let c: RawClient;
  beforeEach(async () => {
    c = await raw.connect((await t.start()).url, codec);
  });

  const call = (fields: Record<string, unknown>): Promise<Received> => c.call({ id: c.id(), ...fields });

  test('requests that only look, or fail, create no space', async () => {
    const answers = [
      await call({ t: 'count', space: 'a', template: ['x'] }),
      await call({ t: 'rd', space: 'b', template: ['x'], wait: false }),
      await call({ t: 'in', space: 'c', template: ['x'], wait: false }),
      await call({ t: 'rd', space: 'd', template: ['x'], limit: 5 }),
      await call({ t: 'in', space: 'e', template: ['x'], limit: 5 }),
      await call({ t: 'in', space: 'f', template: ['x'], timeout: 1 }),
      await call({ t: 'renew', space: 'g', tid: 'zz', ttl: 1_000 }),
      await call({ t: 'cancel', space: 'h', tid: 'zz' }),
      await call({ t: 'batch', space: 'i', steps: [{ op: 'rdp', template: ['x'] }] }),
      await call({ t: 'batch', space: 'j', steps: [{ op: 'out', tuple: ['x'] }, { op: 'inp', template: ['y'] }] }),
      await call({ t: 'out', space: 'k', tuple: Array.from({ length: 65 }, () => 0), ack: 'submission' }),
      await call({ t: 'rd', space: 'l', template: [{ $nope: 1 }] }),
      await call({ t: 'notify', nid: 1, space: 'm', template: [{ $nope: 1 }] }),
    ];
    expect(answers.map((a) => a.code ?? a.t)).toEqual([
      'counted', 'tuple', 'tuple', 'tuples', 'tuples', 'tuple', 'UNKNOWN_ID', 'UNKNOWN_ID', 'BATCH_FAILED', 'BATCH_FAILED',
      'INVALID_TUPLE', 'INVALID_TEMPLATE', 'INVALID_TEMPLATE',
    ]);
    expect(await spaces(c)).toEqual([]);
  });

  test('a space holding tuples stays; once the last is taken it goes, and comes back with the next out', async () => {
    await call({ t: 'out', space: 'jobs', tuple: ['job', 1], ack: 'submission' });
    await call({ t: 'out', space: 'jobs', tuple: ['job', 2], ack: 'submission' });
    await call({ t: 'in', space: 'jobs', template: ['job', 1], wait: false });
    expect(await spaces(c)).toEqual(['jobs']);
    await call({ t: 'in', space: 'jobs', template: ['job', 2], wait: false });
    expect(await spaces(c)).toEqual([]);
    await call({ t: 'out', space: 'jobs', tuple: ['job', 3], ack: 'submission' });
    expect(await spaces(c)).toEqual(['jobs']);
    const lease = await call({ t: 'out', space: 'jobs', tuple: ['job', 4], ack: 'submission' });
    await call({ t: 'batch', space: 'jobs', steps: [{ op: 'inp', template: ['job', 3] }] });
    await call({ t: 'cancel', space: 'jobs', tid: lease.tid });
    expect(await spaces(c)).toEqual([]);
  });

  test('a waiting request holds its space until it is answered, times out, is aborted or its connection goes', async () => {
    const other = await raw.connect(t.broker.url, codec);
    const served = c.id();
    c.send({ t: 'in', id: served, space: 'served', template: ['x'] });
    const timedOut = c.id();
    // Long enough to still be waiting when listed on a busy machine (20 ms was not, under CI load).
    c.send({ t: 'rd', id: timedOut, space: 'timed', template: ['x'], timeout: 1_500 });
    const aborted = c.id();
    c.send({ t: 'in', id: aborted, space: 'aborted', template: ['x'] });
    other.send({ t: 'in', id: other.id(), space: 'closed', template: ['x'] });
    await other.sync();
    expect(await spaces(c)).toEqual(['aborted', 'closed', 'served', 'timed']);

    await call({ t: 'out', space: 'served', tuple: ['x'], ack: 'submission' });
    expect(await c.reply(served)).toMatchObject({ t: 'tuple', tuple: ['x'] });
    expect(await c.reply(timedOut)).toMatchObject({ t: 'tuple', tuple: null });
    await call({ t: 'abort', target: aborted });
    await other.close();
    expect(await spacesOnceSettled(c)).toEqual([]);
  });

  test('a notify subscription holds its space until unnotify or disconnect', async () => {
    const other = await raw.connect(t.broker.url, codec);
    await call({ t: 'notify', nid: 1, space: 'watched', template: [{ $any: true }] });
    await other.call({ t: 'notify', id: other.id(), nid: 1, space: 'also', template: [{ $any: true }] });
    expect(await spaces(c)).toEqual(['also', 'watched']);
    await call({ t: 'unnotify', nid: 1 });
    expect(await spaces(c)).toEqual(['also']);
    await other.close();
    expect(await spacesOnceSettled(c)).toEqual([]);
  });

  test('a reserved tuple holds its space; settled it goes, put back it stays', async () => {
    await call({ t: 'out', space: 'work', tuple: ['a'], ack: 'submission' });
    await call({ t: 'out', space: 'work', tuple: ['b'], ack: 'submission' });
    const a = await call({ t: 'in', space: 'work', template: ['a'], reserve: 60_000 });
    const b = await call({ t: 'in', space: 'work', template: ['b'], reserve: 60_000 });
    await call({ t: 'settle', rid: a.rid, ok: true });
    expect(await spaces(c)).toEqual(['work']); // b is out under reservation, not gone
    await call({ t: 'settle', rid: b.rid, ok: false });
    expect(await call({ t: 'count', space: 'work', template: ['b'] })).toMatchObject({ count: 1 });
    await call({ t: 'in', space: 'work', template: ['b'], wait: false });
    expect(await spaces(c)).toEqual([]);
  });

  test('a space goes when its last tuple expires', async () => {
    // The writer hears when the tuple left unread: an event to wait on instead of the clock.
    const lease = await call({ t: 'out', space: 'brief', tuple: ['x'], ttl: 20, ack: 'delivery' });
    expect(lease).toMatchObject({ t: 'lease', reached: false, timedOut: false });
    expect(await spaces(c)).toEqual([]);
  });

  test('a persistent space stays, empty, keeping its mode', async () => {
    await call({ t: 'out', space: 'kept', tuple: ['x'], persistent: true, ack: 'submission' });
    await call({ t: 'in', space: 'kept', template: ['x'], wait: false });
    expect(await spaces(c)).toEqual(['kept']);
    await call({ t: 'out', space: 'kept', tuple: ['y'], ack: 'submission' }); // no stated mode: still persistent
    const [view] = (await c.call({ t: 'admin', id: c.id(), op: 'spaces' })).result as { persistent: boolean }[];
    expect(view!.persistent).toBe(true);
    // Made transient while empty, it goes like any transient space.
    await call({ t: 'in', space: 'kept', template: ['y'], wait: false });
    await call({ t: 'out', space: 'kept', tuple: ['z'], persistent: false, ack: 'submission' });
    await call({ t: 'in', space: 'kept', template: ['z'], wait: false });
    expect(await spaces(c)).toEqual([]);
  });
});
