/**
 * Cluster tuple spaces when a node dies or goes deaf at the wrong moment (issue 15): nothing an
 * `out` wrote is lost or left hidden, expired tuples leave Redis without notify subscriptions,
 * and maxSpaceBytesTotal holds for the whole cluster. A dead node is played in Redis: the
 * state it leaves behind is written there (a tuple hidden while offered, a waiter filed by a
 * node that no longer listens, a hand-over received and never finished), then the live nodes
 * must recover it; each is what a SIGKILL at that step leaves, without racing the kill. One test
 * freezes a real broker process (SIGSTOP) so that a hand-over reaches its socket unread, then
 * SIGKILLs it (it runs the built CLI: `npm run build`).
 */
import { Redis } from 'ioredis';
import { connect } from '../client-sdk/index.js';
import { SPACE_BATCH } from '../server/cluster/cluster-batch.js';
import { packWaiter } from '../server/cluster/filed-waiters.js';
import { packRecord } from '../server/cluster/space-entries.js';
import { spaceChannel } from '../server/cluster/space-scripts.js';
import { ChildTracker } from './helpers/child-process.js';
import { testCluster } from './helpers/cluster.js';
import { clusterRedis } from './helpers/cluster-redis.js';
import { serveProcess } from './helpers/serve-process.js';
import { until } from './helpers/setup.js';

const shared = clusterRedis();
const t = testCluster();
const children = new ChildTracker();

beforeEach(async () => {
  await shared.inspect.flushall(); // the byte count is cluster-wide: each test starts from none
});
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

/** Files a blocked `in` of node `node` in Redis, as SPACE_WAIT does. */
async function fileWaiter(space: string, node: string, template: unknown[]): Promise<void> {
  const seq = await shared.inspect.incr(`{ls:${space}}:wseq`);
  await shared.inspect.zadd(`{ls:${space}}:w:${template.length}`, seq, `${node}|1`);
  await shared.inspect.hset(`{ls:${space}}:wt`, `${node}|1`, packWaiter(template, true, undefined));
}

/** Writes a tuple as a node that hid it to offer it to the waiters and died, its offer due. */
async function hiddenByDeadNode(space: string, values: unknown[]): Promise<string> {
  const tid = String(await shared.inspect.incr(`{ls:${space}}:seq`));
  const rec = packRecord(values, Infinity, undefined);
  await shared.inspect.hset(`{ls:${space}}:t`, tid, rec);
  await shared.inspect.incrby('{linden}:space-bytes', rec.length);
  await shared.inspect.zadd('{linden}:offers', Date.now() - 1, `${tid} ${space}`);
  return tid;
}

async function bytesHeld(): Promise<number> {
  return Number((await shared.inspect.get('{linden}:space-bytes')) ?? '0');
}

describe('cluster spaces when nodes die', () => {
  test('a tuple hidden by a node that died while offering it is offered again by another, then shown', async () => {
    await t.start(shared.server.url, 2);
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const taking = a.space('offered').in(['job', { $any: true }], { timeout: 10_000 });
    await shared.waitersFiled('offered', 2, 1);
    await hiddenByDeadNode('offered', ['job', 1]);
    expect(await taking).toEqual(['job', 1]);
    await hiddenByDeadNode('offered', ['job', 2]); // nobody waits: it must become visible
    let seen: unknown = null;
    await until(() => seen !== null, 5_000, async () => {
      seen = await b.space('offered').rdp(['job', { $any: true }]);
    });
    expect(seen).toEqual(['job', 2]);
    expect(await shared.inspect.zcard('{linden}:offers')).toBe(0);
    expect(await b.space('offered').inp(['job', { $any: true }])).toEqual(['job', 2]);
    expect(await bytesHeld()).toBe(0);
  });

  test('the claim sends the tuple in the same step; a waiter node that dies before serving it gets it put back', async () => {
    await t.start(shared.server.url, 2);
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    // A node that hears its channel, takes the hand-over and dies before finishing it.
    const ghost = new Redis(shared.server.url);
    const received: Buffer[] = [];
    ghost.on('smessageBuffer', (_channel: Buffer, message: Buffer) => received.push(message));
    await ghost.ssubscribe(spaceChannel('ghost'));
    await fileWaiter('handed', 'ghost', ['job', { $any: true }]);
    await a.space('handed').out(['job', 1]);
    await until(() => received.length === 1);
    ghost.disconnect();
    // Claimed for the ghost: hidden everywhere, kept in Redis under a claim with an end.
    expect(await b.space('handed').rdp(['job', { $any: true }])).toBeNull();
    expect(await shared.inspect.hlen('{ls:handed}:r')).toBe(1);
    // The sweep puts it back once the claim ends (2 s), to the waiters first.
    expect(await b.space('handed').in(['job', { $any: true }], { timeout: 10_000 })).toEqual(['job', 1]);
    // The taker's node ends its own claim once it has served it.
    let left = -1;
    await until(() => left === 0, 5_000, async () => {
      left = (await shared.inspect.hlen('{ls:handed}:r')) + (await shared.inspect.zcard('{linden}:reservations')) + (await bytesHeld());
    });
  });

  test('a waiter\'s broker process SIGKILLed with a tuple handed to it unread: the tuple goes to the next waiter', async () => {
    await t.start(shared.server.url, 1);
    const doomed = await serveProcess(children, ['--redis', shared.server.url, '--memory', '--log-level', 'warn']);
    const first = await connect(doomed.url, { reconnect: false });
    const a = await t.client(0);
    void first.space('killed').in(['job', { $any: true }]).catch(() => undefined);
    await shared.waitersFiled('killed', 2, 1);
    const next = a.space('killed').in(['job', { $any: true }], { timeout: 15_000 });
    await shared.waitersFiled('killed', 2, 2);
    doomed.child.child.kill('SIGSTOP'); // its subscription stays open: the claim finds a listener
    await a.space('killed').out(['job', 1]);
    expect(await shared.inspect.hlen('{ls:killed}:r')).toBe(1); // claimed for the frozen node's waiter
    doomed.child.child.kill('SIGKILL');
    await doomed.child.exited;
    expect(await next).toEqual(['job', 1]);
    await first.close().catch(() => undefined);
  }, 30_000);

  test('a waiter whose node no longer listens is dropped in the claim, and the next waiter takes the tuple', async () => {
    await t.start(shared.server.url, 2);
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    await fileWaiter('deaf', 'gone', ['job', { $any: true }]);
    const taking = b.space('deaf').in(['job', { $any: true }], { timeout: 10_000 });
    await shared.waitersFiled('deaf', 2, 2);
    await a.space('deaf').out(['job', 1]);
    expect(await taking).toEqual(['job', 1]);
    expect(await shared.inspect.zcard('{ls:deaf}:w:2')).toBe(0);
    expect(await shared.inspect.hlen('{ls:deaf}:t')).toBe(0);
  });

  test('a node that resubscribes files its waiters again and looks: a copy missed meanwhile is found', async () => {
    await t.start(shared.server.url, 2);
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const reading = a.space('resub').rd(['note', { $any: true }], { timeout: 10_000 });
    await shared.waitersFiled('resub', 2, 1);
    // What a copy to a node that did not listen leaves: its waiter dropped from Redis, the tuple shown.
    const [member] = await shared.inspect.zrange('{ls:resub}:w:2', 0, -1);
    await shared.inspect.zrem('{ls:resub}:w:2', member!);
    await shared.inspect.hdel('{ls:resub}:wt', member!);
    await b.space('resub').out(['note', 1]);
    const subs = ((await shared.inspect.client('LIST')) as string).split('\n').filter((l) => / name=linden:[^ ]*:sub /.test(l));
    expect(subs).toHaveLength(2);
    for (const line of subs) await shared.inspect.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
    expect(await reading).toEqual(['note', 1]);
    expect(await b.space('resub').count(['note', { $any: true }])).toBe(1);
  });
});

describe('cluster space housekeeping', () => {
  test('an expired tuple leaves Redis in a space nobody reads or watches', async () => {
    await t.start(shared.server.url, 2);
    const a = await t.client(0);
    await a.space('quiet').out(['tmp', 1], { ttl: 1_000 });
    await a.space('quiet').out(['keep', 1]);
    expect(await shared.inspect.zscore('{linden}:leases', 'quiet')).not.toBeNull();
    let left = -1;
    await until(() => left === 1, 5_000, async () => {
      left = await shared.inspect.hlen('{ls:quiet}:t');
    });
    expect(await shared.inspect.zscore('{linden}:leases', 'quiet')).toBeNull();
    expect(await shared.inspect.zcard('{ls:quiet}:x')).toBe(0);
    expect(await a.space('quiet').inp(['keep', 1])).toEqual(['keep', 1]);
    expect(await bytesHeld()).toBe(0);
  });

  test('a batch out hidden for a waiter by a node that died before offering it is offered again, its lease filed', async () => {
    await t.start(shared.server.url, 2);
    const b = await t.client(1);
    const waiting = b.space('batchdead').in(['late', { $any: true }]);
    await shared.waitersFiled('batchdead', 2, 1);
    // The state SPACE_BATCH leaves when its node dies right after it: the out hidden, its offer due.
    const k = (part: string) => `{ls:batchdead}:${part}`;
    const lease = Date.now() + 60_000;
    const rec = packRecord(['late', 1], lease, undefined);
    const answer = (await shared.inspect.eval(
      SPACE_BATCH, 10, k('t'), k('seq'), k('n'), k('x'), k('wseq'), '{linden}:space-bytes', '{linden}:leases', '{linden}:offers', k('a:2'), k('w:2'),
      Date.now(), 100, k('events'), 1, 1_000_000, 'batchdead', Date.now() - 1, 'o', rec, 9, 10, lease, 2, 0, -1,
    )) as number[];
    expect(answer[0]).toBe(1);
    expect(answer[3]).toBe(1); // hidden
    expect(Number(await shared.inspect.zscore('{linden}:leases', 'batchdead'))).toBe(lease);
    expect(await bytesHeld()).toBe(rec.length);
    expect(await waiting).toEqual(['late', 1]);
    let left = -1;
    await until(() => left === 0, 5_000, async () => {
      left = (await shared.inspect.zcard('{linden}:offers')) + (await bytesHeld());
    });
  });

  test('a batch counts its outs in the cluster\'s bytes, is refused past maxSpaceBytesTotal, and its inp gives them back', async () => {
    const size = packRecord(['b', 'x'.repeat(40)], Infinity, undefined).length;
    await t.start(shared.server.url, 2, { maxSpaceBytesTotal: size * 3 + 10 });
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const tuple = ['b', 'x'.repeat(40)];
    await a.space('bb1').batch([{ out: tuple }, { out: tuple }]);
    expect(await bytesHeld()).toBe(size * 2);
    // An out taken by a later step of its batch is never stored: nothing counted.
    await b.space('bb2').batch([{ out: tuple }, { inp: ['b', { $any: true }] }]);
    expect(await bytesHeld()).toBe(size * 2);
    // Two more would pass the limit, counted across nodes and spaces: nothing is written.
    await expect(b.space('bb2').batch([{ out: tuple }, { out: tuple }])).rejects.toMatchObject({ code: 'SPACE_FULL', details: { limit: 'maxSpaceBytesTotal', space: 'bb2' } });
    expect(await b.space('bb2').count(['b', { $any: true }])).toBe(0);
    expect(await bytesHeld()).toBe(size * 2);
    await b.space('bb2').batch([{ out: tuple }]);
    await expect(a.space('bb3').out(tuple)).rejects.toMatchObject({ code: 'SPACE_FULL', details: { limit: 'maxSpaceBytesTotal' } });
    // A batch inp and a plain take give the bytes back; a leased batch out gives them back at its end.
    await b.space('bb1').batch([{ inp: ['b', { $any: true }] }, { inp: ['b', { $any: true }] }]);
    expect(await bytesHeld()).toBe(size);
    expect(await a.space('bb2').inp(['b', { $any: true }])).toEqual(tuple);
    expect(await bytesHeld()).toBe(0);
    await a.space('bb4').batch([{ out: ['short'], ttl: 100 }]);
    expect(await shared.inspect.zscore('{linden}:leases', 'bb4')).not.toBeNull();
    let held = -1;
    await until(() => held === 0, 5_000, async () => {
      held = await bytesHeld();
    });
    expect(await shared.inspect.hlen('{ls:bb4}:t')).toBe(0);
  });

  test('maxSpaceBytesTotal holds for the whole cluster, and every way a tuple leaves gives its bytes back', async () => {
    const size = packRecord(['b', 'x'.repeat(40)], Infinity, undefined).length;
    await t.start(shared.server.url, 3, { maxSpaceBytesTotal: size * 2 + 10 });
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const tuple = ['b', 'x'.repeat(40)];
    await a.space('bytes1').out(tuple);
    const second = await b.space('bytes2').out(tuple);
    await expect(c.space('bytes3').out(tuple)).rejects.toMatchObject({ code: 'SPACE_FULL', details: { limit: 'maxSpaceBytesTotal' } });
    expect(await bytesHeld()).toBe(size * 2);
    // Taken, cancelled, reserved and acked, renewed and expired: each leaves the count right.
    expect(await c.space('bytes1').inp(['b', { $any: true }])).toEqual(tuple);
    await c.space('bytes3').out(tuple);
    await a.space('bytes2').cancel(second!.id);
    expect(await bytesHeld()).toBe(size);
    const r = (await b.space('bytes3').in(['b', { $any: true }], { reserve: 60_000 }))!;
    expect(await bytesHeld()).toBe(size);
    await r.ack();
    expect(await bytesHeld()).toBe(0);
    const leased = await a.space('bytes4').out(tuple);
    await b.space('bytes4').renew(leased!.id, 100);
    let held = -1;
    await until(() => held === 0, 5_000, async () => {
      held = await bytesHeld();
    });
    expect(await shared.inspect.hlen('{ls:bytes4}:t')).toBe(0);
  });
});
