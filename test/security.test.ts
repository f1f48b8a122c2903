/**
 * Users and permissions against a live broker (issue 12): every permission allowed and denied,
 * wildcard tricks, the three ways to log in and the ways they fail, the HTTP API.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { hashToken } from '../server/auth/secrets.js';
import type { BrokerOptions } from '../server/index.js';
import { rawClients } from './helpers/raw-client.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

const keys = generateKeyPairSync('ed25519');
const ADMIN_TOKEN = 'admin-token-0123456789';

const AUTH: BrokerOptions['auth'] = {
  users: [
    {
      user: 'alice', password: 'plain:wonderland',
      permissions: {
        publish: { allow: ['orders.>'], deny: ['orders.secret.*'] },
        subscribe: { allow: ['orders.*.created'] },
        queues: { allow: ['billing'], manage: ['alice.>'] },
        spaces: { allow: ['jobs'], read: ['catalog'] },
      },
    },
    { user: 'ops', token: hashToken(ADMIN_TOKEN), permissions: { admin: true } },
    { user: 'root', password: 'plain:root', permissions: { publish: { allow: ['>'] }, queues: { manage: ['>'] }, spaces: { allow: ['>'] } } },
  ],
  jwt: { publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(), audience: 'linden' },
};

const start = (extra: BrokerOptions = {}) => t.start({ auth: AUTH, ...extra });
const alice = () => t.client({ user: 'alice', password: 'wonderland', reconnect: false });
const denied = (action: string, subject: string) => ({ code: 'PERMISSION_DENIED', details: { action, subject } });

describe('logging in', () => {
  test('a wrong password, an unknown user and no credentials get the same AUTH_FAILED, then close 4008', async () => {
    const broker = await start();
    for (const auth of [{ user: 'alice', password: 'nope' }, { user: 'mallory', password: 'nope' }, undefined]) {
      const c = await raw.open(broker.url, 'json');
      c.send({ t: 'hello', id: 7, v: 1, ...(auth ? { auth } : {}) });
      const err = await c.reply(7);
      expect(err).toMatchObject({ t: 'err', code: 'AUTH_FAILED', message: 'authentication failed' });
      expect(await c.closed).toEqual({ code: 4008, reason: 'authentication failed' });
    }
    await expect(t.client({ user: 'alice', password: 'nope', reconnect: false })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  test('password, token and JWT log in; an expired or foreign-audience JWT does not', async () => {
    await start();
    await alice();
    await t.client({ token: ADMIN_TOKEN });
    const sign = (f: (j: SignJWT) => SignJWT) =>
      f(new SignJWT({ permissions: { publish: { allow: ['carol.>'] } } }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('carol').setAudience('linden').setExpirationTime('1h')).sign(keys.privateKey);
    const carol = await t.client({ jwt: () => sign((j) => j) });
    await carol.publish('carol.x', 1, { ack: 'submission' });
    await expect(carol.publish('other.x', 1, { ack: 'submission' })).rejects.toMatchObject(denied('publish', 'other.x'));
    await expect(t.client({ jwt: await sign((j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 60)), reconnect: false })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(t.client({ jwt: await sign((j) => j.setAudience('elsewhere')), reconnect: false })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  test('anonymous clients only when allowed, with their own permissions', async () => {
    await start({ auth: { ...AUTH, anonymous: true, anonymousPermissions: { subscribe: { allow: ['public.>'] } } } });
    const anon = await t.client();
    const sub = anon.subscribe('public.news');
    await sub.ready;
    await expect(anon.publish('public.news', 1, { ack: 'submission' })).rejects.toMatchObject(denied('publish', 'public.news'));
  });

  test('a broker without auth ignores credentials and allows everything', async () => {
    await t.start();
    const c = await t.client({ user: 'whoever', password: 'x' });
    await c.publish('any.thing', 1, { ack: 'submission' });
  });
});

describe('permissions', () => {
  test('publish: allowed, denied by a deny, and outside every allow; the connection stays open', async () => {
    await start();
    const c = await alice();
    await c.publish('orders.eu.created', 1, { ack: 'submission' });
    await expect(c.publish('orders.secret.plans', 1, { ack: 'submission' })).rejects.toMatchObject(denied('publish', 'orders.secret.plans'));
    await expect(c.publish('payments.x', 1, { ack: 'submission' })).rejects.toMatchObject(denied('publish', 'payments.x'));
    await c.publish('orders.us.created', 1, { ack: 'submission' });
  });

  test('subscribe: a pattern within the allow passes; wider wildcards are refused', async () => {
    await start();
    const c = await alice();
    await c.subscribe('orders.eu.created').ready;
    await c.subscribe('orders.*.created').ready;
    for (const pattern of ['orders.>', 'orders.*.*', '>', '*.eu.created']) {
      await expect(c.subscribe(pattern).ready).rejects.toMatchObject(denied('subscribe', pattern));
    }
  });

  test('queues: consume where allowed, create/change/delete only where managed', async () => {
    await start();
    const root = await t.client({ user: 'root', password: 'root' });
    await root.createQueue('billing', 'orders.>');
    const c = await alice();
    const sub = c.subscribe('orders.>', { durable: 'billing' });
    await sub.ready;
    await root.publish('orders.eu.created', { n: 1 }, { mode: 'persistent', ack: 'submission' });
    expect((await take(sub, 1))[0]!.data).toEqual({ n: 1 });
    await expect(c.subscribe('orders.>', { durable: 'billing', maxInFlight: 5 }).ready).rejects.toMatchObject(denied('queue.manage', 'billing'));
    await expect(c.createQueue('billing', 'orders.>')).rejects.toMatchObject(denied('queue.manage', 'billing'));
    await expect(c.deleteQueue('billing')).rejects.toMatchObject(denied('queue.manage', 'billing'));
    await expect(c.subscribe('x.>', { durable: 'audit' }).ready).rejects.toMatchObject(denied('queue.consume', 'audit'));
    await c.createQueue('alice.mine', 'orders.>');
    await c.deleteQueue('alice.mine');
  });

  test('spaces: allow reads and writes, read only reads', async () => {
    await start();
    const root = await t.client({ user: 'root', password: 'root' });
    await root.space('catalog').out(['item', 1]);
    const c = await alice();
    const jobs = c.space('jobs');
    await jobs.out(['job', 1]);
    expect(await jobs.inp(['job', { $any: true }])).toEqual(['job', 1]);
    const catalog = c.space('catalog');
    expect(await catalog.rdp(['item', { $any: true }])).toEqual(['item', 1]);
    expect(await catalog.count(['item', { $any: true }])).toBe(1);
    const events = catalog.notify(['item', { $any: true }]);
    await events.ready;
    await expect(catalog.out(['item', 2])).rejects.toMatchObject(denied('space.write', 'catalog'));
    await expect(catalog.inp(['item', { $any: true }])).rejects.toMatchObject(denied('space.write', 'catalog'));
    await expect(c.space('secrets').rdp(['x'])).rejects.toMatchObject(denied('space.read', 'secrets'));
  });

  test('admin operations need admin, and admin alone does not publish', async () => {
    await start();
    const c = await alice();
    await expect(c.admin({ op: 'queues' })).rejects.toMatchObject(denied('admin', 'queues'));
    const ops = await t.client({ token: ADMIN_TOKEN });
    expect(await ops.admin({ op: 'queues' })).toEqual([]);
    await expect(ops.publish('orders.x', 1, { ack: 'submission' })).rejects.toMatchObject(denied('publish', 'orders.x'));
  });

  test('a name with wildcard characters never widens anything: it is not a name', async () => {
    const broker = await start();
    const c = await raw.open(broker.url, 'json');
    await c.hello({ auth: { user: 'alice', password: 'wonderland' } });
    for (const name of ['alice.*', 'alice.>', '>']) {
      expect(await c.call({ t: 'qcreate', id: c.id(), name, pattern: 'orders.>' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME' });
      expect(await c.call({ t: 'count', id: c.id(), space: name, template: [1] })).toMatchObject({ t: 'err', code: 'INVALID_FRAME' });
    }
  });
});

describe('the HTTP API', () => {
  test('/api needs an admin; /healthz and /metrics stay open unless metricsAuth', async () => {
    const broker = await start();
    const base = broker.url.replace(/^ws/, 'http');
    const get = (path: string, authorization?: string) => fetch(base + path, { headers: authorization ? { authorization } : {} });
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
    const anonymous = await get('/api/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect((await get('/api/queues', 'Bearer wrong')).status).toBe(401);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect((await get('/api/queues', basic('alice', 'wonderland'))).status).toBe(403);
    expect((await get('/api/queues?peek=1', `Bearer ${ADMIN_TOKEN}`)).status).toBe(200);
    expect((await get('/api/connections', basic('alice', 'nope'))).status).toBe(401);
    await t.cleanup();
    const guarded = await start({ metricsAuth: true });
    const metrics = (authorization?: string) => fetch(guarded.url.replace(/^ws/, 'http') + '/metrics', { headers: authorization ? { authorization } : {} });
    expect((await metrics()).status).toBe(401);
    const text = await (await metrics(`Bearer ${ADMIN_TOKEN}`)).text();
    expect(text).toContain('linden_auth_failures_total');
  });
});

describe('configuration', () => {
  test('a bad auth config is refused naming the path', async () => {
    await expect(t.start({ auth: { users: [{ user: 'a', password: 'plain:x', permissions: { publish: { allow: [5 as unknown as string] } } }] } }))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('auth.users[0].permissions.publish.allow[0]: must be string') });
    await expect(t.start({ auth: { users: [{ user: 'a', password: 'clear' }] } }))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('auth.users[0].password: must be a hash') });
  });
});
