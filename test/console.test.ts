/**
 * The web console (issue 16) in real headless Chromium: the page the broker serves at `/`
 * shows what the broker holds, its actions change it, a live tail receives messages; on a
 * broker with users it asks for an admin's login. Screenshots go to test-artifacts/.
 * Needs `npm run build` (dist/console, dist/sdk) and /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { Client } from '../client-sdk/index.js';
import { chromiumPages, httpBase, SLOW } from './helpers/chromium.js';
import { testBroker, until } from './helpers/setup.js';

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });
const browser = chromiumPages();
const t = testBroker();
afterEach(() => t.cleanup());

/** Opens the console of the test's broker; errors in the page fail the test. */
async function openConsole(errors: string[], size = { width: 1280, height: 900 }): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize(size);
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.setDefaultTimeout(SLOW);
  page.on('dialog', (dialog) => void dialog.accept()); // destructive actions ask first: the operator says yes
  const response = await page.goto(`${httpBase(t.broker)}/`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['x-frame-options']).toBe('DENY');
  return page;
}

async function depthIs(client: Client, name: string, depth: number): Promise<void> {
  let now = -1;
  await until(() => now === depth, 10_000, async () => { now = (await client.admin({ op: 'queue', name }) as { depth: number }).depth; });
}

test('the views show the broker\'s queues (stalled and dead letters marked), spaces, streams, connections and subscriptions', async () => {
  await t.start();
  const app = await t.client({ name: 'shop', will: { topic: 'status.shop', data: 'offline' } });
  await app.createQueue('orders', 'orders.>', { maxDeliveries: 1 });
  for (let i = 0; i < 3; i++) await app.publish('orders.eu', { i }, { mode: 'persistent', ack: 'submission' });
  const worker = await t.client({ name: 'worker' });
  const sub = worker.subscribe('orders.>', { durable: 'orders' });
  for await (const m of sub) { m.nack('declined'); break; } // its only delivery: a dead letter
  sub.unsubscribe(); // no consumers: the queue stalls
  await app.space('jobs').out(['resize', 'cat.png']);
  app.subscribe('news.*', { group: 'readers', callback: () => undefined });
  await app.createStream('audit', 'audit.>', { maxMessages: 100 });
  for (const n of [1, 2]) await app.publish('audit.login', { n }, { mode: 'persistent', ack: 'submission' });
  await app.subscribe('audit.>', { stream: 'audit', reader: 'auditor', start: 'new' }).ready; // attached, lag 0

  const errors: string[] = [];
  const page = await openConsole(errors);
  const orders = page.locator('#queues tr[data-queue="orders"]');
  await orders.waitFor();
  await orders.locator('td').nth(2).filter({ hasText: /^2$/ }).waitFor(); // ready: 2
  expect(await orders.getAttribute('class')).toBe('stalled');
  expect(await orders.locator('td.reason').textContent()).toBe('no consumers');
  expect(await page.locator('#queues tr[data-queue="orders.dlq"]').count()).toBe(1);
  expect(await page.locator('#spaces tr[data-space="jobs"] td').nth(2).textContent()).toBe('1');
  const audit = page.locator('#streams tr[data-stream="audit"]');
  expect(await audit.locator('td').nth(2).textContent()).toBe('2'); // messages
  expect(await audit.locator('td').nth(4).textContent()).toBe('1–2'); // seqs
  expect(await audit.locator('td').nth(6).textContent()).toBe('100 msgs; discard old');
  expect(await audit.locator('[data-reader="auditor"]').textContent()).toBe('auditor 0');
  expect(await page.locator('#connections').textContent()).toContain('shop');
  expect(await page.locator(`#connections tr[data-connection="${app.connectionId}"]`).textContent()).toContain('status.shop'); // its last will
  expect(await page.locator('#connections').textContent()).toContain('(this console)');
  expect(await page.locator('#subscriptions').textContent()).toContain('news.*');
  expect(await page.locator('.card.alarm').count()).toBeGreaterThan(0); // dead letters, a stalled queue
  expect(await page.locator('#charts figure').count()).toBe(2);
  await page.screenshot({ path: `${ARTIFACTS}console-views.png`, fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
}, SLOW);

test('actions: publish, out, tail a topic and a space, peek, purge, retry, kick', async () => {
  await t.start();
  const app = await t.client({ name: 'app' });
  await app.createQueue('work', 'work.>', { maxDeliveries: 1 });
  await app.publish('work.a', 'first', { mode: 'persistent', ack: 'submission' });
  await app.publish('work.b', 'second', { mode: 'persistent', ack: 'submission' });
  const heard: unknown[] = [];
  await app.subscribe('greet.*', { callback: (m) => { heard.push(m.data); } }).ready;
  const victim = await t.client({ name: 'victim', reconnect: false });

  const errors: string[] = [];
  const page = await openConsole(errors);
  await page.locator('#queues tr[data-queue="work"]').waitFor();

  // Publish from the console: the app's subscriber gets it.
  await page.fill('#publish input[name=topic]', 'greet.all');
  await page.fill('#publish textarea[name=data]', '{"hello": "from the console"}');
  await page.click('#publish button');
  await until(() => heard.length === 1, 10_000);
  expect(heard).toEqual([{ hello: 'from the console' }]);

  // Out a tuple: the app reads it.
  await page.fill('#out input[name=space]', 'board');
  await page.fill('#out input[name=tuple]', '["note", 42]');
  await page.click('#out button');
  expect(await app.space('board').rd(['note', { $any: true }], { timeout: 10_000 })).toEqual(['note', 42]);

  // A live tail of a topic and of the space's notify stream.
  await page.fill('#tail-topic input[name=pattern]', 'live.>');
  await page.click('#tail-topic button');
  await page.locator('#tails li', { hasText: 'topic live.>' }).waitFor();
  await app.publish('live.one', { n: 1 });
  await page.locator('#log li.msg', { hasText: 'live.one {"n":1}' }).waitFor();
  await page.locator('#spaces tr[data-space="board"] button', { hasText: 'tail' }).click();
  await page.locator('#tails li', { hasText: 'space board' }).waitFor();
  await app.space('board').out(['note', 43]);
  await page.locator('#log li.event', { hasText: 'board out ["note",43]' }).waitFor();

  // Peek, then purge: the ready messages go.
  const work = page.locator('#queues tr[data-queue="work"]');
  await work.locator('button', { hasText: 'peek' }).click();
  await page.locator('#log li.peek', { hasText: 'work work.a "first"' }).waitFor();
  await work.locator('button', { hasText: 'purge' }).click();
  await depthIs(app, 'work', 0);

  // A dead letter retried back into its queue.
  await app.publish('work.c', 'third', { mode: 'persistent', ack: 'submission' });
  const sub = app.subscribe('work.>', { durable: 'work' });
  for await (const m of sub) { m.nack('no'); break; }
  sub.unsubscribe();
  const retry = work.locator('button', { hasText: 'retry dead letters' });
  await retry.waitFor();
  await retry.click();
  await depthIs(app, 'work', 1);

  // Kick: the victim's connection closes.
  const closed = (async () => { for await (const s of victim.status()) if (s.type === 'disconnected') return s.code; return undefined; })();
  await page.locator(`#connections tr[data-connection="${victim.connectionId}"] button`, { hasText: 'kick' }).click();
  expect(await closed).toBe(4006);
  await page.screenshot({ path: `${ARTIFACTS}console-actions.png`, fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
}, SLOW);

test('on a broker with users it asks for a login and shows the views to an admin only', async () => {
  await t.start({
    auth: {
      users: [
        { user: 'ops', password: 'plain:ops-secret', permissions: { admin: true } },
        { user: 'app', password: 'plain:app-secret', permissions: { publish: { allow: ['>'] } } },
      ],
    },
  });
  const errors: string[] = [];
  const page = await openConsole(errors);
  const login = page.locator('#login');
  await login.waitFor({ state: 'visible' });
  await page.fill('#login input[name=user]', 'app');
  await page.fill('#login input[name=password]', 'app-secret');
  await page.click('#login button');
  await page.locator('#status', { hasText: 'log in as an admin user' }).waitFor();
  expect(await login.isVisible()).toBe(true);
  await page.fill('#login input[name=user]', 'ops');
  await page.fill('#login input[name=password]', 'ops-secret');
  await page.click('#login button');
  await login.waitFor({ state: 'hidden' });
  await page.locator('#connections tr', { hasText: 'web-console' }).first().waitFor();
  expect(errors).toEqual([]);
  await page.close();
}, SLOW);

test('readable on a phone: nothing wider than the screen but the tables, which scroll on their own', async () => {
  await t.start();
  const app = await t.client({ name: 'a-client-with-a-rather-long-name-for-a-narrow-screen' });
  await app.createQueue('orders', 'orders.>');
  const errors: string[] = [];
  const page = await openConsole(errors, { width: 390, height: 844 });
  await page.locator('#queues tr[data-queue="orders"]').waitFor();
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  await page.screenshot({ path: `${ARTIFACTS}console-phone.png`, fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
}, SLOW);

test('the browser chat example, served by the broker, talks between two tabs', async () => {
  await t.start();
  const url = `${httpBase(t.broker)}/examples/chat.html?room=test`;
  const errors: string[] = [];
  const [alice, bob] = await Promise.all([browser.context.newPage(), browser.context.newPage()]);
  for (const p of [alice, bob]) {
    p.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    p.setDefaultTimeout(SLOW);
    await p.goto(url);
    await p.waitForFunction(() => (window as unknown as { chatReady?: boolean }).chatReady === true);
  }
  for (const [p, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
    await p.fill('#name', name);
    await p.click('#who button');
  }
  await alice.fill('#text', 'hi bob <b>not bold</b>');
  await alice.click('#say button');
  await bob.locator('#lines li', { hasText: 'alicehi bob <b>not bold</b>' }).waitFor();
  await bob.fill('#text', 'hello alice');
  await bob.click('#say button');
  await alice.locator('#lines li', { hasText: 'bobhello alice' }).waitFor();
  await alice.locator('#status', { hasText: 'reached 2 tab(s)' }).waitFor();
  expect(await bob.locator('#lines b').count()).toBeGreaterThanOrEqual(3); // joins and messages; the <b> typed stayed text
  await bob.screenshot({ path: `${ARTIFACTS}chat.png` });
  expect(errors).toEqual([]);
  await Promise.all([alice.close(), bob.close()]);
}, SLOW);
