/**
 * The broker serves the browser SDK (dist/sdk, written by `npm run build`) at /sdk/linden.js,
 * with its source map, to pages of any origin, and a page for browsers at `/`.
 */
import { request } from 'node:http';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

/** A raw HTTP request: the path is sent as written (fetch would resolve `..` first). */
function http(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { port } = new URL(t.broker.url);
  return new Promise((resolve, reject) => {
    // No keep-alive: a pooled socket would outlive the test's broker.
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('/sdk/linden.js is one ES module importing nothing, cacheable by ETag and open to other origins', async () => {
  await t.start();
  const js = await http('/sdk/linden.js', { origin: 'https://elsewhere.example' });
  expect(js.status).toBe(200);
  expect(js.headers).toMatchObject({
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': 'no-cache',
    'access-control-allow-origin': '*',
    'x-content-type-options': 'nosniff',
    etag: expect.stringMatching(/^"[\w-]+"$/),
  });
  expect(Number(js.headers['content-length'])).toBe(Buffer.byteLength(js.text));
  expect(js.text).toMatch(/export\s*\{[^}]*\bconnect\b/);
  expect(js.text).not.toMatch(/\bfrom\s*["'](?!data:)/); // no static import of anything
  expect(js.text).not.toMatch(/["']node:/);
  expect(js.text.trimEnd().endsWith('//# sourceMappingURL=linden.js.map')).toBe(true);

  // Asked again with its ETag: 304, nothing sent.
  const again = await http('/sdk/linden.js', { 'if-none-match': js.headers.etag as string });
  expect(again).toMatchObject({ status: 304, text: '' });
  expect(again.headers.etag).toBe(js.headers.etag);
  expect((await http('/sdk/linden.js', { 'if-none-match': '"other"' })).status).toBe(200);

  const head = await http('/sdk/linden.js', {}, 'HEAD');
  expect(head).toMatchObject({ status: 200, text: '' });
  expect(head.headers['content-length']).toBe(js.headers['content-length']);

  const map = await http('/sdk/linden.js.map');
  expect(map.status).toBe(200);
  expect(map.headers['content-type']).toBe('application/json; charset=utf-8');
  const sources = (JSON.parse(map.text) as { sources: string[] }).sources;
  expect(sources).toEqual(expect.arrayContaining([expect.stringMatching(/client-sdk\/client\.ts$/)]));
});

test('nothing but the built SDK files is served under /sdk/, and nothing can be changed', async () => {
  await t.start();
  for (const path of ['/sdk/', '/sdk/linden.d.ts', '/sdk/../package.json', '/sdk/%2e%2e/package.json', '/sdk/..%2fpackage.json', '/sdk/x/../linden.js', '/sdk//etc/passwd']) {
    const res = await http(path);
    expect({ path, status: res.status }).toEqual({ path, status: 404 });
    expect(res.text).not.toContain('"name": "linden"');
  }
  expect((await http('/sdk/linden.js', {}, 'POST')).status).toBe(405);
});

test('/ gives a browser the web console, other clients 426, and the WebSocket upgrade there still works', async () => {
  await t.start({ auth: { users: [{ user: 'admin', password: 'plain:secret', permissions: { admin: true } }] } });
  const page = await http('/', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(page.text).toContain('<title>Linden console</title>');
  expect(page.text).toContain('src="/console/app.js"');
  expect((await http('/console/app.js')).text).toContain('from"/sdk/linden.js"'); // the console's one SDK is the broker's
  const plain = await http('/');
  expect(plain.status).toBe(426);
  expect(plain.text).toMatch(/WebSocket/);
  // Public code: served without credentials on a broker with users.
  expect((await http('/sdk/linden.js')).status).toBe(200);
  const client = await t.client({ user: 'admin', password: 'secret' });
  await client.flush();
});
