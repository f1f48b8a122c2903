/**
 * Security from the shell: `linden passwd` hashes that the broker accepts, `linden serve
 * --config`, and client commands logging in with flags or LINDEN_* variables.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';

const children = new ChildTracker();
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'linden-security-cli-')); });
afterEach(async () => {
  await children.killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI to completion with `stdin` as its standard input; no developer LINDEN_* leaks in. */
function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return children.spawn(CLI_MAIN, args, env, ['LINDEN_URL', 'LINDEN_USER', 'LINDEN_PASSWORD', 'LINDEN_TOKEN']).exited;
}

test('passwd hashes work in a --config file; client commands log in with flags or LINDEN_*', async () => {
  // linden passwd reads the password from stdin (nothing else runs yet, so a sync run is fine).
  const hashed = spawnSync(process.execPath, [CLI_MAIN, 'passwd', '--json'], { input: 'wonderland\n', encoding: 'utf8' });
  expect({ status: hashed.status, stderr: hashed.stderr }).toEqual({ status: 0, stderr: '' });
  const { hash } = JSON.parse(hashed.stdout) as { hash: string };
  expect(hash).toMatch(/^\$scrypt\$/);
  const token = JSON.parse((await run(['passwd', '--token', '--json'])).stdout) as { token: string; hash: string };

  const config = join(dir, 'linden.json');
  writeFileSync(config, JSON.stringify({
    logLevel: 'warn',
    auth: {
      users: [
        { user: 'alice', password: hash, permissions: { publish: { allow: ['orders.>'] } } },
        { user: 'ops', token: token.hash, permissions: { admin: true } },
      ],
    },
  }));
  const { url } = await serveProcess(children, ['--memory', '--config', config]);

  const ok = await run(['pub', 'orders.eu', '{"n":1}', '--ack', 'submission', '--url', url, '--user', 'alice'], { LINDEN_PASSWORD: 'wonderland' });
  expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
  const deniedPub = await run(['pub', 'payments.x', '1', '--ack', 'submission', '--url', url, '--user', 'alice', '--password', 'wonderland']);
  expect(deniedPub.code).toBe(1);
  expect(deniedPub.stderr).toMatch(/^error PERMISSION_DENIED: not allowed to publish "payments.x"\n$/);
  const badLogin = await run(['pub', 'orders.eu', '1', '--url', url, '--user', 'alice', '--password', 'nope']);
  expect(badLogin.code).toBe(1);
  expect(badLogin.stderr).toContain('AUTH_FAILED');

  // The HTTP views: an admin token passes, anyone else is told why.
  const views = await run(['queues', '--json', '--url', url], { LINDEN_TOKEN: token.token });
  expect({ code: views.code, stderr: views.stderr }).toEqual({ code: 0, stderr: '' });
  const refused = await run(['queues', '--url', url, '--user', 'alice', '--password', 'wonderland']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/403.*not an admin/);
});

test('a config file that is not valid stops the broker with the path of what is wrong', async () => {
  const config = join(dir, 'bad.json');
  writeFileSync(config, JSON.stringify({ auth: { users: [{ user: 'a', password: 'plain:x', permissions: { publish: { allow: ['a.>.b'] } } }] } }));
  const bad = await run(['serve', '--memory', '--port', '0', '--config', config]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('auth.users[0].permissions.publish.allow[0]');
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, '{ auth');
  const unreadable = await run(['serve', '--memory', '--port', '0', '--config', notJson]);
  expect(unreadable.code).toBe(2);
  expect(unreadable.stderr).toContain('is not JSON');
});
