/**
 * The start-up warning of a broker reachable from other machines (issue 12): listening beyond
 * loopback while authentication (not in Linden yet) or TLS is missing is said at warn, once.
 */
import { pino } from 'pino';
import { isLoopbackHost, warnIfExposed } from '../server/exposure.js';
import { resolveOptions } from '../server/options.js';
import { ChildTracker } from './helpers/child-process.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { requireBuilt } from './helpers/built.js';

const children = new ChildTracker();
afterEach(() => children.killAll());

/** The JSON lines warnIfExposed() logs for these options. */
function warnings(options: Parameters<typeof resolveOptions>[0]): Array<Record<string, unknown>> {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
  warnIfExposed(resolveOptions(options), log);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('loopback hosts: localhost, 127.0.0.0/8, ::1 (bracketed or not, or IPv4-mapped)', () => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1']) expect([host, isLoopbackHost(host)]).toEqual([host, true]);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1', '::ffff:10.0.0.1']) {
    expect([host, isLoopbackHost(host)]).toEqual([host, false]);
  }
});

test('a loopback broker logs no warning', () => {
  expect(warnings({ host: '127.0.0.1' })).toEqual([]);
  expect(warnings({ host: 'localhost' })).toEqual([]);
  expect(warnings({ host: '::1' })).toEqual([]);
});

test('beyond loopback: one warn line naming the host and what is missing', () => {
  expect(warnings({ host: '0.0.0.0' })).toEqual([expect.objectContaining({
    level: 40,
    host: '0.0.0.0',
    gaps: ['no authentication', 'no TLS'],
    msg: 'listening on 0.0.0.0, reachable from other machines, with no authentication and no TLS',
  })]);
  expect(warnings({ host: '192.168.1.10', tls: { cert: 'c.pem', key: 'k.pem' } })).toEqual([expect.objectContaining({
    level: 40,
    gaps: ['no authentication'],
    msg: 'listening on 192.168.1.10, reachable from other machines, with no authentication',
  })]);
});

test('linden serve --host 0.0.0.0 says it at start', async () => {
  requireBuilt(CLI_MAIN);
  const serve = await serveProcess(children, ['--memory', '--host', '0.0.0.0']);
  await serve.child.line('stdout', /^\{"level":40,.*"host":"0.0.0.0","gaps":\["no authentication","no TLS"\],"msg":"listening on 0\.0\.0\.0, reachable from other machines, with no authentication and no TLS"\}$/);
});
