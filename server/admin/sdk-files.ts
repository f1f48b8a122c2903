import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** URL path under which the browser SDK is served: `/sdk/linden.js` and its source map. */
export const SDK_PATH = '/sdk/';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

interface SdkFile { body: Buffer; type: string; etag: string }

/**
 * The built browser SDK (`npm run build` writes dist/sdk), read once. The broker runs from
 * dist/server/admin (linden serve) or from the sources under ts-jest; both find dist/sdk.
 * Only the files listed in that folder when it is first read are ever served, by exact name:
 * no path from a request reaches the file system.
 */
export class SdkFiles {
  private files: Map<string, SdkFile> | undefined;

  constructor(private readonly folders: readonly URL[] = [new URL('../../sdk/', import.meta.url), new URL('../../dist/sdk/', import.meta.url)]) {}

  /** Whether `npm run build` has written the SDK where the broker looks. */
  get built(): boolean {
    return this.load().size > 0;
  }

  /** Answers a GET or HEAD of `/sdk/<name>`: 200, 304 for a matching If-None-Match, 404 otherwise. */
  serve(req: IncomingMessage, res: ServerResponse, name: string): void {
    const file = this.load().get(name);
    if (!file) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify({ error: 'NOT_FOUND', message: this.load().size === 0 ? 'the browser SDK is not built: run npm run build' : `no file ${SDK_PATH}${name}` }));
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
    };
    if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim() === file.etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': file.body.length });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  private load(): Map<string, SdkFile> {
    if (this.files) return this.files;
    const files = new Map<string, SdkFile>();
    const folder = this.folders.map((u) => fileURLToPath(u)).find((f) => existsSync(`${f}linden.js`));
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
