/**
 * What the SDK does in a browser beyond talking: wake-ups (the network comes back, the page is
 * shown again) end a long back-off at once; and the README's browser sample runs as written.
 * Headless Chromium as in test/browser.test.ts (test/helpers/chromium.ts).
 */
import { readFileSync } from 'node:fs';
import type { Client } from '../client-sdk/index.js';
import { chromiumPages, httpBase, SLOW, type LindenPage } from './helpers/chromium.js';
import { testBroker, until } from './helpers/setup.js';

const chromium = chromiumPages();
const t = testBroker();
afterEach(() => t.cleanup());

/** What the wake-up test keeps in the page. */
interface WakeState { client: Client; events: { type: string; delayMs?: number }[]; received: string[] }
type WakeGlobals = LindenPage & { wakeTest: WakeState };

describe.each(['online', 'visibilitychange'] as const)('browser wake-ups: on %s', (signal) => {
  test('a reconnection waiting out a long back-off goes at once, and the subscriptions come back', async () => {
    const broker = await t.start();
    const node = await t.client();
    await chromium.withPage(async (page) => {
      const connectionId = await page.evaluate(async (url) => {
        const w = window as unknown as WakeGlobals;
        const linden = await w.lindenReady;
        // A back-off of a minute or two: only the wake-up can bring the client back within the test.
        const client = await linden.connect(url, { reconnect: { initialDelayMs: 120_000, maxDelayMs: 120_000 } });
        const state: WakeState = { client, events: [], received: [] };
        void (async () => {
          for await (const e of client.status()) state.events.push({ type: e.type, ...(e.type === 'reconnecting' ? { delayMs: e.delayMs } : {}) });
        })();
        const sub = client.subscribe<string>('wake.>', { callback: (m) => { state.received.push(m.data); } });
        await sub.ready;
        w.wakeTest = state;
        return client.connectionId;
      }, broker.url);

      // The broker drops the page's connection; the client settles down to wait.
      await node.admin({ op: 'kick', connection: connectionId });
      await page.waitForFunction(() => (window as unknown as WakeGlobals).wakeTest.events.some((e) => e.type === 'reconnecting'));
      const waiting = await page.evaluate(() => (window as unknown as WakeGlobals).wakeTest.events.find((e) => e.type === 'reconnecting')!.delayMs!);
      expect(waiting).toBeGreaterThanOrEqual(60_000);

      if (signal === 'online') {
        // The browser's own network emulation: going offline and back fires a real `online` event.
        await chromium.context.setOffline(true);
        await chromium.context.setOffline(false);
      } else {
        // The page is shown again (a headless page is always `visible`; the event is what a tab switch fires).
        await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
      }
      await page.waitForFunction(() => (window as unknown as WakeGlobals).wakeTest.events.some((e) => e.type === 'connected'), undefined, { timeout: 20_000 });

      const receipt = await node.publish('wake.up', 'welcome back', { ack: 'delivery', timeout: 10_000 });
      expect(receipt).toMatchObject({ receivers: 1, delivered: 1 });
      const state = await page.evaluate(() => {
        const s = (window as unknown as WakeGlobals).wakeTest;
        return { events: s.events.map((e) => e.type), received: s.received, connectionId: s.client.connectionId };
      });
      expect(state.events).toEqual(['disconnected', 'reconnecting', 'connected']);
      expect(state.received).toEqual(['welcome back']);
      expect(state.connectionId).not.toBe(connectionId);
      await page.evaluate(() => (window as unknown as WakeGlobals).wakeTest.client.close());
    }, broker);
  }, SLOW);
});

test('the README\'s chat page, served from another origin, imports the SDK from the broker and chats', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### In the browser'));
  const sample = /```html\n([\s\S]*?)```/.exec(section)![1]!;
  const broker = await t.start();
  chromium.serve('/readme-chat.html', sample.replaceAll('http://localhost:7070', httpBase(broker)).replaceAll('ws://localhost:7070', broker.url));
  const node = await t.client();
  const heard: string[] = [];
  const sub = node.subscribe<{ text: string }>('chat.>', { callback: (m) => { heard.push(`${m.topic}: ${m.data.text}`); } });
  await sub.ready;
  const errors: string[] = [];
  const page = await chromium.context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.setDefaultTimeout(SLOW);
  try {
    await page.goto(`${chromium.baseUrl}/readme-chat.html`);
    await until(() => heard.length === 1, SLOW);
    await node.publish('chat.lobby', { text: 'hello, page' });
    await page.waitForFunction(() => document.querySelectorAll('#log li').length === 2);
    await until(() => heard.length === 2); // Node hears its own message too
    expect(await page.locator('#log li').allTextContents()).toEqual(['chat.lobby: a browser joined', 'chat.lobby: hello, page']);
    expect(heard).toEqual(['chat.lobby: a browser joined', 'chat.lobby: hello, page']);
    expect(errors).toEqual([]);
  } finally {
    await page.close();
  }
}, SLOW);
