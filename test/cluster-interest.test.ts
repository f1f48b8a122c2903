import { RemoteInterest } from '../server/cluster/remote-interest.js';

// The other nodes' interest as this node holds it: snapshots, notified changes in order, plans.
const plain = (pattern: string) => 'p' + pattern;
const group = (name: string, pattern: string) => `g${name}\u0000${pattern}`;

test('a plan names the nodes with matching subscriptions, and queue groups with their members per node', () => {
  const remote = new RemoteInterest();
  remote.load('n1', { '#seq': '3', [plain('orders.>')]: '2', [group('billing', 'orders.*')]: '1' });
  remote.load('n2', { '#seq': '1', [plain('orders.eu')]: '1', [group('billing', 'orders.*')]: '3' });
  const plan = remote.plan('orders.eu');
  expect([...plan.plain]).toEqual(expect.arrayContaining([['n1', 2], ['n2', 1]]));
  expect(plan.groups).toEqual([{ key: 'billing\u0000orders.*', nodes: expect.arrayContaining(['n1', 'n2']), counts: expect.any(Array), total: 4 }]);
  expect(remote.plan('orders.us.x')).toMatchObject({ groups: [] });
  expect([...remote.plan('orders.us.x').plain]).toEqual([['n1', 2]]);
  expect(remote.plan('billing').plain.size).toBe(0);
});

test('changes apply in sequence; a gap asks for a reload; old ones are ignored', () => {
  const remote = new RemoteInterest();
  remote.load('n1', { '#seq': '5', [plain('a.*')]: '1' });
  expect(remote.apply('n1', 4, { [plain('a.*')]: 0 })).toBe(true); // already in the snapshot
  expect(remote.plan('a.b').plain.get('n1')).toBe(1);
  expect(remote.apply('n1', 6, { [plain('b.>')]: 1, [plain('a.*')]: 0 })).toBe(true);
  expect(remote.plan('a.b').plain.size).toBe(0);
  expect(remote.plan('b.c').plain.get('n1')).toBe(1);
  expect(remote.apply('n1', 8, { [plain('c')]: 1 })).toBe(false); // 7 was missed
  expect(remote.apply('n2', 1, { [plain('c')]: 1 })).toBe(false); // unknown node: load it first
});

test('a node dropped takes all its interest with it', () => {
  const remote = new RemoteInterest();
  remote.load('n1', { '#seq': '1', [plain('>')]: '1', [group('g', 'x.*')]: '2' });
  expect(remote.plan('x.y').groups).toHaveLength(1);
  remote.drop('n1');
  expect(remote.plan('x.y')).toMatchObject({ groups: [] });
  expect(remote.plan('x.y').plain.size).toBe(0);
  expect(remote.nodeIds).toEqual([]);
});
