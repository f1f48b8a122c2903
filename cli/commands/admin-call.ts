import { WebSocket } from 'ws';
import { isErrorCode, LindenError } from '../../protocol/errors.js';
import type { AdminOp } from '../../protocol/frames.js';
import { PROTOCOL_VERSION, SUBPROTOCOLS } from '../../protocol/version.js';
import { CliError } from '../common.js';
import { httpBase } from './inspect-api.js';

/** The fields of an `admin` message besides `t` and `id` (protocol.md §17). */
export interface AdminRequest {
  op: AdminOp;
  name?: string;
  connection?: string;
  peek?: number;
}

// A broker that accepts the connection but never answers must not hang a script.
const ANSWER_TIMEOUT_MS = 10_000;
const HELLO_ID = 1;
const ADMIN_ID = 2;

/**
 * Runs one admin operation over the WebSocket protocol: hello, `admin`, its answer, close. The
 * operations that change state (purge, retry, kick) live only there, where rights can be checked
 * per operation once there is auth; the read-only views stay on HTTP. Speaks the JSON codec
 * straight over `ws` (the SDK has no admin calls): the answers are JSON documents anyway.
 *
 * Resolves with the `report`'s result (undefined for `ok`); rejects with a LindenError for the
 * broker's `err`, or a CliError when the broker cannot be reached or goes away.
 */
export function adminCall(url: string, request: AdminRequest): Promise<unknown> {
  httpBase(url); // the same check, and the same exit 2 message, as the HTTP views
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOLS.json], { perMessageDeflate: false, handshakeTimeout: ANSWER_TIMEOUT_MS });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
      fn();
    };
    const fail = (err: Error) => settle(() => reject(err));
    const timer = setTimeout(() => fail(new CliError(`no answer from the broker at ${url} within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);

    ws.on('open', () => ws.send(JSON.stringify({ t: 'hello', id: HELLO_ID, v: PROTOCOL_VERSION, name: 'linden-cli' })));
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      fail(new CliError(`broker at ${url} refused the WebSocket upgrade (HTTP ${res.statusCode}): is it a Linden broker?`));
    });
    ws.on('error', (err: Error & { code?: string }) => fail(new CliError(`cannot reach broker at ${url}: ${err.code ?? err.message}`)));
    ws.on('close', (code: number, reason: Buffer) => {
      const why = reason.toString();
      fail(new CliError(`the broker at ${url} closed the connection (${code}${why ? `: ${why}` : ''}) before answering`));
    });
    ws.on('message', (data: Buffer) => {
      let messages: unknown;
      try {
        messages = JSON.parse(data.toString('utf8'));
      } catch {
        fail(new CliError(`broker at ${url} sent a frame that is not JSON`));
        return;
      }
      for (const m of (Array.isArray(messages) ? messages : [messages]) as Record<string, any>[]) {
        if (m.t === 'welcome' && m.re === HELLO_ID) ws.send(JSON.stringify({ t: 'admin', id: ADMIN_ID, ...request }));
        else if (m.t === 'err' && (m.re === HELLO_ID || m.re === ADMIN_ID)) fail(new LindenError(isErrorCode(m.code) ? m.code : 'INTERNAL_ERROR', String(m.message), m.details));
        else if (m.t === 'report' && m.re === ADMIN_ID) settle(() => resolve(m.result));
        else if (m.t === 'ok' && m.re === ADMIN_ID) settle(() => resolve(undefined));
      }
    });
  });
}

/** Runs `call`, turning the broker's NOT_FOUND into the sentence every command uses for a missing name. */
export async function orNotFound<T>(url: string, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof LindenError && err.code === 'NOT_FOUND') throw new CliError(`${what} does not exist on the broker at ${url}`);
    throw err;
  }
}
