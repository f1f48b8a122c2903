/**
 * The `Origin` check on the WebSocket upgrade (issue 12): browsers let any page open a
 * WebSocket to a loopback broker, so the broker admits only the web origins it is told to —
 * loopback pages unless `allowedOrigins` says otherwise — and refuses others with HTTP 403
 * before the upgrade. Clients that send no Origin (everything but browsers) are not concerned.
 */
import { WebSocket } from 'ws';
import type { CodecName } from '../protocol/version.js';
import { startBroker, type BrokerOptions } from '../server/index.js';
import { ChildTracker, failure } from './helpers/child-process.js';
import { RawClient, refusedUpgrade, subprotocolOf } from './helpers/raw-client.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { requireBuilt } from './helpers/built.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker per set of options for the file: the Origin check keeps no state between upgrades.
const t = sharedTestBroker();
const children = new ChildTracker();
const raws: RawClient[] = [];
afterEach(async () => {
  await Promise.all(raws.splice(0).map((c) => c.close()));
  await children.killAll();
  await t.cleanup();
});

/** Opens a raw WebSocket sending `origin` (none when undefined) and completes hello/welcome. */
async function openWithOrigin(url: string, origin: string | undefined, codec: CodecName = 'json'): Promise<RawClient> {
  const ws = new WebSocket(url, [subprotocolOf(codec)], { perMessageDeflate: false, ...(origin === undefined ? {} : { origin }) });
  const client = new RawClient(ws, codec);
  raws.push(client);
  await client.opened;
  await client.hello();
  return client;
}

/** The status and body of a refused upgrade sending `origin`. */
function refused(url: string, origin: string): Promise<{ statusCode: number; body: string }> {
  return refusedUpgrade(url, [subprotocolOf('json')], { origin });
}

function forbidden(origin: string): { statusCode: number; body: string } {
  return { statusCode: 403, body: `origin ${origin} is not allowed; the broker's allowedOrigins option lists the web pages that may connect\n` };
}

async function start(options: BrokerOptions = {}): Promise<string> {
  return (await t.start(options)).url;
}

describe('without allowedOrigins: loopback pages only', () => {
  test.each<CodecName>(['json', 'msgpack'])('pages on localhost, 127.0.0.0/8 and [::1], any port and scheme, connect (%s)', async (codec) => {
    const url = await start();
    for (const origin of ['http://localhost:1234', 'http://localhost', 'https://127.0.0.1:8443', 'http://127.9.9.9:80', 'http://[::1]:3000']) {
      await openWithOrigin(url, origin, codec);
    }
  });

  test('other origins get HTTP 403 before the upgrade, with a short body naming the origin', async () => {
    const url = await start();
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'http://128.0.0.1', 'null', 'file://', 'chrome-extension://abcdef']) {
      expect(await refused(url, origin)).toEqual(forbidden(origin));
    }
  });

  test('the origin is checked before the subprotocol: a refused page learns nothing else', async () => {
    const url = await start();
    expect(await refusedUpgrade(url, ['nope'], { origin: 'https://evil.example' })).toEqual(forbidden('https://evil.example'));
  });

  test('a long origin is echoed only in part', async () => {
    const url = await start();
    const origin = `https://${'a'.repeat(1000)}.example`;
    const { statusCode, body } = await refused(url, origin);
    expect(statusCode).toBe(403);
    expect(body).toBe(`origin ${origin.slice(0, 200)} is not allowed; the broker's allowedOrigins option lists the web pages that may connect\n`);
  });

  test.each<CodecName>(['json', 'msgpack'])('a request without Origin (not a browser) connects (%s)', async (codec) => {
    const url = await start();
    await openWithOrigin(url, undefined, codec);
  });
});

describe('allowedOrigins', () => {
  test('admits exactly the origins listed; loopback pages are no longer admitted by default', async () => {
    const url = await start({ allowedOrigins: ['https://app.example.com', 'http://tools.example.com:8080'] });
    await openWithOrigin(url, 'https://app.example.com');
    await openWithOrigin(url, 'http://tools.example.com:8080', 'msgpack');
    for (const origin of ['http://localhost:1234', 'http://app.example.com', 'https://app.example.com:8443', 'https://evil.example', 'http://tools.example.com']) {
      expect(await refused(url, origin)).toEqual(forbidden(origin));
    }
    await openWithOrigin(url, undefined);
  });

  test('entries are compared as browsers spell origins: case and default ports do not matter', async () => {
    const url = await start({ allowedOrigins: ['HTTPS://App.Example.com:443/'] });
    await openWithOrigin(url, 'https://app.example.com');
  });

  test('"*" admits every origin; [] admits no web page at all', async () => {
    const any = await start({ allowedOrigins: ['*'] });
    await openWithOrigin(any, 'https://evil.example');
    const none = await start({ allowedOrigins: [] });
    expect(await refused(none, 'http://localhost:1234')).toEqual(forbidden('http://localhost:1234'));
    await openWithOrigin(none, undefined);
  });

  test('an entry that is not an origin is INVALID_OPTIONS, naming it', async () => {
    for (const entry of ['app.example.com', 'https://app.example.com/path', 'https://app.example.com?q', 'https://user@app.example.com', 'null', '']) {
      await expect(startBroker({ port: 0, logLevel: 'silent', allowedOrigins: [entry] })).rejects.toMatchObject({
        code: 'INVALID_OPTIONS', message: expect.stringContaining('allowedOrigins[0]: '),
      });
    }
  });
});

describe('linden serve --allowed-origin', () => {
  beforeAll(() => {
    requireBuilt(CLI_MAIN);
  });

  test('repeatable and comma-separated; the list replaces the loopback default', async () => {
    const { url } = await serveProcess(children, ['--memory', '--log-level', 'warn', '--allowed-origin', 'https://a.example,https://b.example', '--allowed-origin', 'http://c.example:8080']);
    for (const origin of ['https://a.example', 'https://b.example', 'http://c.example:8080']) await openWithOrigin(url, origin);
    expect(await refused(url, 'http://localhost:1234')).toEqual(forbidden('http://localhost:1234'));
  });

  test('an origin with a path is a usage error (exit 2)', async () => {
    const exit = await children.spawn(CLI_MAIN, ['serve', '--memory', '--port', '0', '--allowed-origin', 'https://a.example/app']).exited;
    expect(failure(exit)).toEqual({
      code: 2,
      stdout: '',
      stderr: ['--allowed-origin[0]: must be "*" or an origin such as https://app.example.com (scheme, host, optional port; no path), not "https://a.example/app"'],
      trace: false,
    });
  });
});
