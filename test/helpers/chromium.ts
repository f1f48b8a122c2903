/**
 * Headless Chromium (Debian's `chromium`, driven by playwright-core) for the browser tests, and
 * a page server of its own origin, other than the broker's: pages import the SDK the broker
 * serves (/sdk/linden.js, built by `npm run build`) across origins, as a user's page would.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const SLOW = 60_000; // Chromium start-up on a busy 2-core machine

const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>linden browser test</title></head>
<body>
<script>window.loadLinden = (broker) => (window.lindenReady = import(broker + '/sdk/linden.js'));</script>
</body>
</html>
`;

/** The SDK module as a page sees it. Only types: nothing here runs in Node. */
export type Linden = typeof import('../../client-sdk/index.js');
/** What the test page defines: `loadLinden(brokerHttpBase)` imports the SDK into `lindenReady`. */
export interface LindenPage { loadLinden(broker: string): Promise<Linden>; lindenReady: Promise<Linden> }

/** The broker's http(s) base URL, where it serves /sdk/linden.js. */
export function httpBase(broker: { url: string }): string {
  return broker.url.replace(/^ws/, 'http');
}

export interface ChromiumPages {
  readonly context: BrowserContext;
  /** The page server's origin, `http://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  /** Serves `html` at `path` on the page server. */
  serve(path: string, html: string): void;
  /** Opens the test page and imports the SDK from `broker`; page errors are collected in `errors`. */
  openPage(errors: string[], broker: { url: string }): Promise<Page>;
  /** Runs `body` on a fresh page; errors thrown in the page fail the test and are named in its failure. */
  withPage(body: (page: Page) => Promise<void>, broker: { url: string }): Promise<void>;
}

/** Starts Chromium and the page server before the file's tests (beforeAll) and stops them after. */
export function chromiumPages(): ChromiumPages {
  let work: string | undefined;
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  let baseUrl = '';
  const pages = new Map<string, string>([['/', PAGE], ['/index.html', PAGE]]);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: the browser test needs Debian's chromium package. Install it as root with: apt-get update && apt-get install -y chromium`);
    }
    work = await mkdtemp(join(tmpdir(), 'linden-browser-'));
    server = createServer((req, res) => {
      const html = pages.get((req.url ?? '/').split('?')[0]!);
      if (html === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    await new Promise<void>((ok, fail) => {
      server!.once('error', fail);
      server!.listen(0, '127.0.0.1', () => ok());
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: CHROMIUM_ARGS,
      timeout: SLOW,
    });
  }, SLOW);

  afterAll(async () => {
    await context?.close();
    if (server) await new Promise<void>((ok) => server!.close(() => ok()));
    server?.closeAllConnections();
    if (work) await rm(work, { recursive: true, force: true });
  }, SLOW);

  const harness: ChromiumPages = {
    get context() {
      if (!context) throw new Error('Chromium is not started: call chromiumPages() at the top of the test file');
      return context;
    },
    get baseUrl() {
      return baseUrl;
    },
    serve(path, html) {
      pages.set(path, html);
    },
    async openPage(errors, broker) {
      const page = await harness.context.newPage();
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
      page.setDefaultTimeout(SLOW);
      const response = await page.goto(`${baseUrl}/index.html`);
      expect(response?.status()).toBe(200);
      // The module loads (and is evaluated) in the browser without error.
      const exported = await page.evaluate(async (base) => Object.keys(await (window as unknown as LindenPage).loadLinden(base)).sort(), httpBase(broker));
      expect(exported).toEqual(expect.arrayContaining(['Client', 'LindenError', 'Message', 'connect']));
      return page;
    },
    async withPage(body, broker) {
      const errors: string[] = [];
      const page = await harness.openPage(errors, broker);
      try {
        await body(page);
        expect(errors).toEqual([]);
      } catch (err) {
        if (errors.length > 0) (err as Error).message += `\n\nErrors in the page:\n${errors.join('\n')}`;
        throw err;
      } finally {
        await page.close();
      }
    },
  };
  return harness;
}
