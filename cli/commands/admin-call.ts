import type { AdminRequest } from '../../client-sdk/index.js';
import { LindenError } from '../../protocol/errors.js';
import { CliError, connectOrFail } from '../common.js';
import { httpBase } from './inspect-api.js';

// A broker that accepts the connection but never answers must not hang a script.
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * Runs one admin operation over the WebSocket protocol. The operations that change state
 * (purge, retry, kick) live only there, where rights can be checked per operation once there is
 * auth; the read-only views stay on HTTP. Resolves with the report's result (undefined for
 * `kick`); rejects with a LindenError for the broker's `err`, or a CliError when the broker
 * cannot be reached.
 */
export async function adminCall(url: string, request: AdminRequest): Promise<unknown> {
  httpBase(url); // the same check, and the same exit 2 message, as the HTTP views
  const client = await connectOrFail(url, { reconnect: false, connectTimeoutMs: ANSWER_TIMEOUT_MS });
  try {
    return await client.admin(request, ANSWER_TIMEOUT_MS);
  } finally {
    await client.close();
  }
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
