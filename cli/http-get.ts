import { get as getHttp } from 'node:http';
import { get as getHttps } from 'node:https';

export interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * GETs an http:// or https:// URL and reads the whole answer. Node's `node:https` rather than
 * fetch(): fetch takes no CA, and a broker with a private CA is exactly what `--ca` is for. The
 * certificate is always verified; `ca` replaces Node's built-in CAs.
 */
export function httpGet(url: string, options: { ca?: string; timeoutMs: number; authorization?: string }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(options.timeoutMs);
    const onAnswer = (res: import('node:http').IncomingMessage): void => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    };
    const headers = options.authorization === undefined ? {} : { authorization: options.authorization };
    const req = url.startsWith('https:')
      ? getHttps(url, { signal, headers, ...(options.ca === undefined ? {} : { ca: options.ca }) }, onAnswer)
      : getHttp(url, { signal, headers }, onAnswer);
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(signal.aborted ? Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' }) : err);
    });
  });
}
