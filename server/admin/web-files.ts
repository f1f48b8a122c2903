import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** URL path under which the browser SDK is served: `/sdk/linden.js` and its source map. */
export const SDK_PATH = '/sdk/';
/** The web console's files (`/` serves its page). */
export const CONSOLE_PATH = '/console/';
/** The browser examples (examples/browser), e.g. `/examples/chat.html`. */
export const EXAMPLES_PATH = '/examples/';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

interface WebFile { body: Buffer; type: string; etag: string }

/**
 * One folder of files `npm run build` writes under dist/ for browsers (the SDK in dist/sdk, the
 * console in dist/console, the browser examples in dist/examples/browser), read once. The broker
 * runs from dist/server/admin (linden serve) or from the sources under ts-jest; both find it.
 * Only the files listed in that folder when it is first read are ever served, by exact name:
 * no path from a request reaches the file system.
 */
export class WebFiles {
  private files: Map<string, WebFile> | undefined;
  private readonly folders: readonly URL[];

  /** `folder`: under dist/, e.g. `sdk`; `entry`: the file whose presence means it is built. */
  constructor(private readonly folder: string, private readonly entry: string) {
    // From dist/server/admin the build is two folders up; from the sources (ts-jest), in dist/ beside
    // them. Never the source folder of the same name (console/ holds app.ts, not the built app.js).
    const dist = import.meta.url.includes('/dist/server/') ? new URL('../../', import.meta.url) : new URL('../../dist/', import.meta.url);
    this.folders = [new URL(`${folder}/`, dist)];
  }

  /** Whether `npm run build` has written the folder where the broker looks. */
  get built(): boolean {
    return this.load().size > 0;
  }

  /** Answers a GET or HEAD of one of its files by name: 200, 304 for a matching If-None-Match, 404 otherwise. */
  serve(req: IncomingMessage, res: ServerResponse, name: string): void {
    const file = this.load().get(name);
    if (!file) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify({ error: 'NOT_FOUND', message: this.load().size === 0 ? `dist/${this.folder} is not built: run npm run build` : `no file ${name} in ${this.folder}` }));
      return;
    }
    const headers = {
      'content-type': file.type,
      etag: file.etag,
      // The URL names no version, so caches ask again each time; the ETag makes that a 304.
      'cache-control': 'no-cache',
      // Public code: a page from any origin may import it (connecting is what allowedOrigins guards).
      'access-control-allow-origin': '*',
      'x-content-type-options': 'nosniff',
      // A page (the console acts on the broker) is never framed by another site: no clickjacking.
      ...(file.type.startsWith('text/html') ? { 'x-frame-options': 'DENY', 'content-security-policy': "frame-ancestors 'none'" } : {}),
    };
    if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim() === file.etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': file.body.length });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  private load(): Map<string, WebFile> {
    if (this.files) return this.files;
    const files = new Map<string, WebFile>();
    const folder = this.folders.map((u) => fileURLToPath(u)).find((f) => existsSync(f + this.entry));
    if (folder) {
      for (const name of readdirSync(folder)) {
        const type = TYPES[name.slice(name.lastIndexOf('.'))];
        if (!type) continue;
        const body = readFileSync(folder + name);
        files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
      }
    }
    // Not cached while missing: a broker started before the build serves it once it is there.
    if (files.size > 0) this.files = files;
    return files;
  }
}

/** The folders served to browsers, by URL prefix. */
export interface WebFolders {
  readonly sdk: WebFiles;
  readonly console: WebFiles;
  readonly examples: WebFiles;
}

export function webFolders(): WebFolders {
  return { sdk: new WebFiles('sdk', 'linden.js'), console: new WebFiles('console', 'index.html'), examples: new WebFiles('examples/browser', 'chat.html') };
}
