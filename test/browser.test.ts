/**
 * The client SDK in a real browser: the module `npm run build` writes (dist/sdk/linden.js),
 * imported by a page of another origin straight from the broker's /sdk/linden.js into headless
 * Chromium (test/helpers/chromium.ts), talking to that broker over the browser's own WebSocket.
 * Nothing is bundled here: the page gets what a user's page gets.
 */
import type { Client, Message, Receipt } from '../client-sdk/index.js';
import { chromiumPages, httpBase, SLOW, type Linden, type LindenPage } from './helpers/chromium.js';
import { testBroker } from './helpers/setup.js';

interface Payload { text: string; n: number; bytes: Uint8Array }
/** A payload as it crosses back to Node: bytes as a plain array, plus what they were in the page. */
interface Described { text: string; n: number; bytes: number[]; bytesType: string }
/** What the page keeps between page.evaluate calls. Only types: nothing here runs in Node. */
interface PageState {
  client: Client;
  codec: string;
  greeting: Promise<{ topic: string; data: Described }>;
  worked: Described[];
}
type PageGlobals = LindenPage & { lindenTest: PageState };

function payload(text: string, n: number, bytes: number[]): Payload {
  return { text, n, bytes: new Uint8Array(bytes) };
}

function describeInNode(data: Payload): Described {
  // jest runs tests in their own realm, so `instanceof Uint8Array` is unreliable here.
  return { text: data.text, n: data.n, bytes: Array.from(data.bytes), bytesType: ArrayBuffer.isView(data.bytes) ? 'bytes' : typeof data.bytes };
}

const chromium = chromiumPages();
const t = testBroker();
afterEach(() => t.cleanup());

const withPage = (body: Parameters<typeof chromium.withPage>[0]): Promise<void> => chromium.withPage(body, t.broker);

describe.each(['msgpack', 'json'] as const)('the client SDK in headless Chromium (%s)', (codec) => {
  test('publishes, subscribes, requests and gets processing receipts against a real broker', async () => {
    const broker = await t.start();
    const node = await t.client({ codec, name: 'node-side' });
    await withPage(async (page) => {
      // -- connect in the page, with the codec under test, and subscribe --
      const opened = await page.evaluate(async ({ url, codec }) => {
        const describeData = (d: Payload): Described => ({
          text: d.text, n: d.n, bytes: Array.from(d.bytes),
          bytesType: d.bytes instanceof Uint8Array ? 'Uint8Array' : Object.prototype.toString.call(d.bytes),
        });
        const w = window as unknown as PageGlobals;
        const linden = await w.lindenReady;
        const client = codec === 'json' ? await linden.connect(url, { codec: 'json', name: 'browser' }) : await linden.connect(url);
        const greetings = client.subscribe<Payload>('to.browser.greet.>');
        const greeting = (async () => {
          for await (const m of greetings) return { topic: m.topic, data: describeData(m.data) };
          throw new Error('subscription ended without a message');
        })();
        const state: PageState = { client, codec: client.codec.name, greeting, worked: [] };
        const workSub = client.subscribe<Payload>('to.browser.work', { callback: (m) => { state.worked.push(describeData(m.data)); } });
        const service = client.subscribe<Payload>('browser.svc.reverse', {
          callback: (m) => m.reply({ text: m.data.text.split('').reverse().join(''), n: -m.data.n, bytes: m.data.bytes.slice().reverse() }),
        });
        await Promise.all([greetings.ready, workSub.ready, service.ready]);
        w.lindenTest = state;
        return { codec: state.codec, connectionId: client.connectionId, hasWebSocket: typeof WebSocket === 'function' };
      }, { url: broker.url, codec });
      expect(opened.codec).toBe(codec);
      expect(opened.connectionId).toEqual(expect.any(String));
      expect(opened.connectionId).not.toBe('');
      expect(opened.hasWebSocket).toBe(true);

      // -- Node publishes, the browser receives the right data, bytes included --
      const sent = payload('héllo, browser ✓', 42, [0, 1, 2, 127, 128, 254, 255]);
      const delivered = await node.publish('to.browser.greet.one', sent, { ack: 'delivery', timeout: 10_000 });
      expect(delivered).toMatchObject({ stage: 'delivery', receivers: 1, delivered: 1, timedOut: false });
      const greeting = await page.evaluate(() => (window as unknown as PageGlobals).lindenTest.greeting);
      expect(greeting).toEqual({
        topic: 'to.browser.greet.one',
        data: { text: 'héllo, browser ✓', n: 42, bytes: [0, 1, 2, 127, 128, 254, 255], bytesType: 'Uint8Array' },
      });

      // -- the browser publishes, a Node subscriber receives it --
      // A callback subscription: it stays subscribed until both messages are in (breaking out
      // of a `for await` after the first would unsubscribe before the second one is routed).
      let gotBoth!: () => void;
      const bothArrived = new Promise<void>((ok) => { gotBoth = ok; });
      const fromBrowser: { topic: string; data: Described }[] = [];
      const nodeSub = node.subscribe<Payload>('from.browser.>', {
        callback: (m) => { fromBrowser.push({ topic: m.topic, data: describeInNode(m.data) }); if (fromBrowser.length === 2) gotBoth(); },
      });
      await nodeSub.ready;
      const published = await page.evaluate(async () => {
        const { client } = (window as unknown as PageGlobals).lindenTest;
        await client.publish('from.browser.fire', { text: 'fire and forget', n: 1, bytes: new Uint8Array([9, 8, 7]) });
        const receipt = await client.publish('from.browser.sync', { text: 'with a receipt', n: 2, bytes: new Uint8Array([]) }, { ack: 'delivery', timeout: 10_000 });
        return { stage: receipt.stage, receivers: receipt.receivers, delivered: receipt.delivered, timedOut: receipt.timedOut };
      });
      expect(published).toEqual({ stage: 'delivery', receivers: 1, delivered: 1, timedOut: false });
      await bothArrived;
      expect(fromBrowser).toEqual([
        { topic: 'from.browser.fire', data: { text: 'fire and forget', n: 1, bytes: [9, 8, 7], bytesType: 'bytes' } },
        { topic: 'from.browser.sync', data: { text: 'with a receipt', n: 2, bytes: [], bytesType: 'bytes' } },
      ]);
      nodeSub.unsubscribe();

      // -- a request from the browser gets the Node responder's reply --
      const responder = node.subscribe<Payload>('svc.double', {
        callback: (m: Message<Payload>) => m.reply({ text: m.data.text.toUpperCase(), n: m.data.n * 2, bytes: Uint8Array.from(m.data.bytes, (b) => b * 2) }),
      });
      await responder.ready;
      const reply = await page.evaluate(async () => {
        const { client } = (window as unknown as PageGlobals).lindenTest;
        const r = await client.request<Payload>('svc.double', { text: 'double me', n: 21, bytes: new Uint8Array([1, 2, 100]) }, { timeout: 10_000 });
        return { text: r.text, n: r.n, bytes: Array.from(r.bytes), bytesType: r.bytes instanceof Uint8Array ? 'Uint8Array' : Object.prototype.toString.call(r.bytes) };
      });
      expect(reply).toEqual({ text: 'DOUBLE ME', n: 42, bytes: [2, 4, 200], bytesType: 'Uint8Array' });

      // -- and a request from Node gets the browser responder's reply --
      const reversed = await node.request<Payload>('browser.svc.reverse', payload('abc', 5, [1, 2, 3]), { timeout: 10_000 });
      expect(describeInNode(reversed)).toEqual({ text: 'cba', n: -5, bytes: [3, 2, 1], bytesType: 'bytes' });

      // -- ack: 'processing' receipts for a browser publisher: processed, rejected, timed out --
      const processedTopics: string[] = [];
      const worker = node.subscribe<Payload>('jobs.ok', { callback: (m) => { processedTopics.push(m.topic); } });
      const failing = node.subscribe<Payload>('jobs.fail', { callback: () => { throw new Error('refused on purpose'); } });
      const idle = node.subscribe<Payload>('jobs.idle'); // queued for `for await`, never acked
      await Promise.all([worker.ready, failing.ready, idle.ready]);
      const receipts = await page.evaluate(async () => {
        const { client } = (window as unknown as PageGlobals).lindenTest;
        const job = (n: number) => ({ text: 'job', n, bytes: new Uint8Array([n]) });
        const summary = (r: Receipt) => ({
          stage: r.stage, receivers: r.receivers, delivered: r.delivered, processed: r.processed,
          failed: r.failed, timedOut: r.timedOut, missing: r.missing.length, rejected: r.rejected.length,
        });
        const [ok, fail, idle] = await Promise.all([
          client.publish('jobs.ok', job(1), { ack: 'processing', timeout: 10_000 }),
          client.publish('jobs.fail', job(2), { ack: 'processing', timeout: 10_000 }),
          client.publish('jobs.idle', job(3), { ack: 'processing', timeout: 300 }),
        ]);
        return { ok: summary(ok), fail: summary(fail), idle: summary(idle) };
      });
      expect(receipts.ok).toEqual({ stage: 'processing', receivers: 1, delivered: 1, processed: 1, failed: 0, timedOut: false, missing: 0, rejected: 0 });
      expect(receipts.fail).toMatchObject({ stage: 'processing', receivers: 1, processed: 0, failed: 1, rejected: 1 });
      expect(receipts.idle).toMatchObject({ stage: 'processing', receivers: 1, processed: 0, timedOut: true, missing: 1 });
      expect(processedTopics).toEqual(['jobs.ok']);

      // -- ack: 'processing' with the browser as the receiver that acks --
      const acked = await node.publish('to.browser.work', payload('work', 7, [7, 7]), { ack: 'processing', timeout: 10_000 });
      expect(acked).toMatchObject({ stage: 'processing', receivers: 1, processed: 1, failed: 0, timedOut: false });
      const worked = await page.evaluate(() => (window as unknown as PageGlobals).lindenTest.worked);
      expect(worked).toEqual([{ text: 'work', n: 7, bytes: [7, 7], bytesType: 'Uint8Array' }]);

      await page.evaluate(() => (window as unknown as PageGlobals).lindenTest.client.close());
    });
  }, SLOW);

  test('payloads of several MiB cross in fragments both ways', async () => {
    const broker = await t.start({ maxFrameBytes: 1024 * 1024 });
    const node = await t.client({ codec });
    const echo = node.subscribe<Uint8Array>('big.echo', { callback: (m) => m.reply(m.data) });
    await echo.ready;
    await withPage(async (page) => {
      const result = await page.evaluate(async ({ url, codec }) => {
        const linden = await (window as unknown as PageGlobals).lindenReady;
        const client = await linden.connect(url, { codec });
        const sent = new Uint8Array(5 * 1024 * 1024);
        for (let i = 0; i < sent.length; i++) sent[i] = (i * 31 + (i >> 12)) & 0xff;
        const back = await client.request<Uint8Array>('big.echo', sent, { timeout: 30_000 });
        let same = back.length === sent.length;
        for (let i = 0; same && i < sent.length; i++) same = back[i] === sent[i];
        await client.close();
        return { length: back.length, same };
      }, { url: broker.url, codec });
      expect(result).toEqual({ length: 5 * 1024 * 1024, same: true });
    });
  }, SLOW);
});

test('the broker admits this page (http://127.0.0.1:<port>) by its Origin: refused unless allowed', async () => {
  const errors: string[] = [];
  const other = await t.start({ allowedOrigins: ['https://app.example.com'] });
  const page = await chromium.openPage(errors, other);
  const attempt = (url: string): Promise<string> => page.evaluate(async (url) => {
    const linden = await (window as unknown as PageGlobals).lindenReady;
    try {
      const client = await linden.connect(url, { reconnect: false });
      await client.close();
      return 'connected';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  }, url);
  try {
    expect(await attempt(other.url)).toBe('CONNECTION_REFUSED');
    // The browser says why in its console; the page itself only sees the socket fail.
    expect(errors).toEqual([expect.stringContaining('403')]);
    await t.cleanup();
    const listed = await t.start({ allowedOrigins: [chromium.baseUrl] });
    expect(await attempt(listed.url)).toBe('connected');
  } finally {
    await page.close();
  }
}, SLOW);

test('a page the broker itself serves imports /sdk/linden.js by its path and publishes and subscribes', async () => {
  const broker = await t.start();
  const node = await t.client();
  const errors: string[] = [];
  const page = await chromium.context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.setDefaultTimeout(SLOW);
  try {
    // The console's page at / (a browser asks for text/html there; other clients get 426).
    const response = await page.goto(`${httpBase(broker)}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('Linden console');
    const echo = node.subscribe<string>('page.ask', { callback: (m) => m.reply(`echo ${m.data}`) });
    // The page says it listens; Node answers with the news it waits for.
    const ready = node.subscribe<string>('page.ready', { callback: (m) => { void node.publish('page.news', `news for ${m.data}`); } });
    await Promise.all([echo.ready, ready.ready]);
    const got = await page.evaluate(async () => {
      const { connect } = await import('/sdk/linden.js' as string) as Linden;
      const client = await connect(location.origin.replace(/^http/, 'ws'));
      const sub = client.subscribe<string>('page.news');
      await sub.ready;
      const reply = await client.request<string>('page.ask', 'hi', { timeout: 10_000 });
      await client.publish('page.ready', reply);
      const it = sub[Symbol.asyncIterator]();
      const news = (await it.next()).value!.data;
      await client.close();
      return { reply, news };
    }).catch((err: Error) => { throw new Error(`${err.message}\n${errors.join('\n')}`); });
    expect(got).toEqual({ reply: 'echo hi', news: 'news for echo hi' });
    expect(errors).toEqual([]);
  } finally {
    await page.close();
  }
}, SLOW);
