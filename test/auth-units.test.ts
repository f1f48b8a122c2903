/**
 * The parts of authentication and authorization that need no broker: pattern relations,
 * compiled permissions, stored secrets, JWT verification and the login rules.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { AUTH_FAILURE_DELAY_MS, Authenticator } from '../server/auth/authenticator.js';
import { checkAuth } from '../server/auth/auth-options.js';
import { requiredPermission } from '../server/auth/authorize.js';
import { covers, overlaps } from '../server/auth/patterns.js';
import { EVERYTHING, Permissions } from '../server/auth/permissions.js';
import { hashPassword, hashToken, newToken, verifySecret } from '../server/auth/secrets.js';

describe('pattern relations', () => {
  test.each([
    ['orders.>', 'orders.eu', true], ['orders.>', 'orders.eu.*', true], ['orders.>', 'orders.>', true],
    ['orders.>', 'orders', false], ['orders.*', 'orders.eu', true], ['orders.*', 'orders.*', true],
    ['orders.*', 'orders.>', false], ['orders.*', 'orders.eu.x', false], ['orders.eu', 'orders.*', false],
    ['>', 'a.b.c', true], ['>', '>', true], ['*.created', 'orders.created', true], ['a.b', 'a.b', true],
  ])('%s covers %s: %s', (wider, pattern, expected) => {
    expect(covers(wider, pattern)).toBe(expected);
  });

  test.each([
    ['orders.secret.*', 'orders.>', true], ['orders.secret.*', 'orders.*', false], ['orders.secret.*', '*.secret.x', true],
    ['a.>', 'a', false], ['a.>', 'b.>', false], ['a.*', '*.b', true], ['a.b', 'a.b.c', false], ['>', 'x', true],
  ])('%s overlaps %s: %s', (x, y, expected) => {
    expect(overlaps(x, y)).toBe(expected);
    expect(overlaps(y, x)).toBe(expected);
  });
});

describe('permissions', () => {
  const p = new Permissions({
    publish: { allow: ['orders.>'], deny: ['orders.secret.*'] },
    subscribe: { allow: ['orders.*.created', 'replies.>'], deny: ['replies.admin'] },
    queues: { allow: ['billing'], manage: ['audit.*'] },
    spaces: { allow: ['jobs'], read: ['catalog'], deny: ['jobs.private'] },
  });

  test('publish: allow, deny wins', () => {
    expect(p.may('publish', 'orders.eu.created')).toBe(true);
    expect(p.may('publish', 'orders.secret.x')).toBe(false);
    expect(p.may('publish', 'payments.x')).toBe(false);
  });

  test('subscribe: a pattern must be covered by an allow and touch no deny', () => {
    expect(p.may('subscribe', 'orders.eu.created')).toBe(true);
    expect(p.may('subscribe', 'orders.*.created')).toBe(true);
    expect(p.may('subscribe', 'orders.>')).toBe(false); // wider than what was given
    expect(p.may('subscribe', '>')).toBe(false);
    expect(p.may('subscribe', 'replies.x')).toBe(true);
    expect(p.may('subscribe', 'replies.>')).toBe(false); // would include replies.admin
    expect(p.may('subscribe', 'replies.*')).toBe(false);
  });

  test('queues: allow consumes, manage also creates and deletes', () => {
    expect(p.may('queue.consume', 'billing')).toBe(true);
    expect(p.may('queue.manage', 'billing')).toBe(false);
    expect(p.may('queue.manage', 'audit.eu')).toBe(true);
    expect(p.may('queue.consume', 'audit.eu')).toBe(true);
    expect(p.may('queue.consume', 'other')).toBe(false);
  });

  test('spaces: allow reads and writes, read only reads, deny wins', () => {
    expect(p.may('space.write', 'jobs')).toBe(true);
    expect(p.may('space.read', 'jobs')).toBe(true);
    expect(p.may('space.read', 'catalog')).toBe(true);
    expect(p.may('space.write', 'catalog')).toBe(false);
    expect(p.may('space.read', 'jobs.private')).toBe(false);
  });

  test('admin is its own right; without auth everything is allowed', () => {
    expect(p.may('admin', 'purge')).toBe(false);
    expect(new Permissions({ admin: true }).may('admin', 'purge')).toBe(true);
    expect(new Permissions({ admin: true }).may('publish', 'x')).toBe(false);
    for (const action of ['publish', 'subscribe', 'queue.manage', 'space.write', 'admin'] as const) expect(EVERYTHING.may(action, 'a.b')).toBe(true);
  });

  test('each message needs the permission of what it touches', () => {
    expect(requiredPermission({ t: 'pub', topic: 'a.b', data: 1 })).toEqual(['publish', 'a.b']);
    expect(requiredPermission({ t: 'sub', id: 1, sid: 1, pattern: 'a.>' })).toEqual(['subscribe', 'a.>']);
    expect(requiredPermission({ t: 'sub', id: 1, sid: 1, pattern: 'a.>', durable: 'q' })).toEqual(['queue.consume', 'q']);
    expect(requiredPermission({ t: 'sub', id: 1, sid: 1, pattern: 'a.>', durable: 'q', ackWait: 5 })).toEqual(['queue.manage', 'q']);
    expect(requiredPermission({ t: 'qdelete', id: 1, name: 'q' })).toEqual(['queue.manage', 'q']);
    expect(requiredPermission({ t: 'in', id: 1, space: 's', template: [1] })).toEqual(['space.write', 's']);
    expect(requiredPermission({ t: 'rd', id: 1, space: 's', template: [1] })).toEqual(['space.read', 's']);
    expect(requiredPermission({ t: 'batch', id: 1, space: 's', steps: [{ op: 'rdp', template: [1] }] })).toEqual(['space.read', 's']);
    expect(requiredPermission({ t: 'batch', id: 1, space: 's', steps: [{ op: 'inp', template: [1] }] })).toEqual(['space.write', 's']);
    expect(requiredPermission({ t: 'admin', id: 1, op: 'purge', name: 'q' })).toEqual(['admin', 'purge']);
    expect(requiredPermission({ t: 'ack', tag: 1 })).toBeUndefined();
  });
});

describe('stored secrets', () => {
  test('scrypt passwords, sha256 tokens and plain ones verify only the right secret', async () => {
    const hash = await hashPassword('s3cret', 10);
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect(await verifySecret(hash, 's3cret')).toBe(true);
    expect(await verifySecret(hash, 's3cret ')).toBe(false);
    const { token, hash: tokenHash } = newToken();
    expect(token.length).toBeGreaterThanOrEqual(43);
    expect(tokenHash).toBe(hashToken(token));
    expect(await verifySecret(tokenHash, token)).toBe(true);
    expect(await verifySecret('plain:pw', 'pw')).toBe(true);
    expect(await verifySecret('plain:pw', 'pw2')).toBe(false);
    expect(await verifySecret('bogus', 'bogus')).toBe(false);
  });

  test('a config names the exact path of what is wrong', () => {
    expect(() => checkAuth({
      users: [
        { user: 'a', password: 'plain:x' },
        { user: 'b' },
        { user: 'c', password: 'clear-text', permissions: { publish: { allow: ['ok.>', 'bad.>.x'] } } },
        { user: 'a', token: 'plain:t' },
      ],
    })).toThrow(expect.objectContaining({
      code: 'INVALID_OPTIONS',
      details: {
        problems: [
          'auth.users[1]: needs a password or a token',
          expect.stringMatching(/^auth\.users\[2\]\.password: must be a hash/),
          expect.stringMatching(/^auth\.users\[2\]\.permissions\.publish\.allow\[1\]: invalid pattern/),
          'auth.users[3].user: "a" appears twice',
        ],
      },
    }));
  });
});

describe('logging in', () => {
  const auth = new Authenticator({
    users: [
      { user: 'alice', password: 'plain:wonderland', permissions: { publish: { allow: ['a.>'] } } },
      { user: 'svc', token: hashToken('tok-123'), permissions: { admin: true } },
    ],
  });

  test('password and token log in with their permissions; anything else fails after the same delay', async () => {
    expect(await auth.authenticate({ user: 'alice', password: 'wonderland' })).toMatchObject({ user: 'alice' });
    expect((await auth.authenticate({ token: 'tok-123' })).permissions.may('admin', 'x')).toBe(true);
    await Promise.all([{ user: 'alice', password: 'nope' }, { user: 'mallory', password: 'x' }, { token: 'nope' }, undefined].map(async (bad) => {
      const started = Date.now();
      await expect(auth.authenticate(bad)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_FAILURE_DELAY_MS - 5);
    }));
  });

  test('anonymous clients only when allowed, with their own permissions', async () => {
    const open = new Authenticator({ anonymous: true, anonymousPermissions: { subscribe: { allow: ['public.>'] } }, users: [] });
    const anon = await open.authenticate(undefined);
    expect(anon.user).toBeNull();
    expect(anon.permissions.may('subscribe', 'public.news')).toBe(true);
    expect(anon.permissions.may('publish', 'public.news')).toBe(false);
    expect((await new Authenticator(undefined).authenticate(undefined)).permissions).toBe(EVERYTHING);
  });

  test.each(['rsa', 'ec', 'ed25519'] as const)('JWT signed with %s: exp, nbf, iss and aud are checked', async (type) => {
    const { publicKey, privateKey } = type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const alg = { rsa: 'RS256', ec: 'ES256', ed25519: 'EdDSA' }[type];
    const jwtAuth = new Authenticator({ jwt: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), issuer: 'idp', audience: 'linden' } });
    const key = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), alg);
    const sign = (claims: Record<string, unknown>, f: (j: SignJWT) => SignJWT = (j) => j) =>
      f(new SignJWT({ permissions: { publish: { allow: ['x.>'] } }, ...claims }).setProtectedHeader({ alg }).setSubject('carol')
        .setIssuer('idp').setAudience('linden').setExpirationTime('1h')).sign(key);

    const ok = await jwtAuth.authenticate({ jwt: await sign({}) });
    expect(ok.user).toBe('carol');
    expect(ok.permissions.may('publish', 'x.y')).toBe(true);
    const bad = [
      await sign({}, (j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 60)),
      await sign({}, (j) => j.setNotBefore('1h')),
      await sign({}, (j) => j.setAudience('other')),
      await sign({}, (j) => j.setIssuer('evil')),
      await sign({ permissions: { publish: { allow: ['bad.>.x'] } } }),
      await sign({ permissions: 'all' }),
      (await sign({})).replace(/\.[^.]+$/, '.AAAA'),
    ];
    await Promise.all(bad.map((jwt) => expect(jwtAuth.authenticate({ jwt })).rejects.toMatchObject({ code: 'AUTH_FAILED' })));
  });
});
