import type { AdminRequest } from '../../client-sdk/index.js';
import { connectOrFail, type BrokerFlags } from '../common.js';

// A broker that accepts the connection but never answers must not hang a script.
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * Runs one admin operation over the WebSocket protocol. The operations that change state
 * (purge, retry, kick) live only there, where rights can be checked per operation once there is
 * auth; the read-only views stay on HTTP. Resolves with the report's result (undefined for
 * `kick`); rejects with a LindenError for the broker's `err` (wrap the call in orNotFound() for
 * the one wording of a missing name), or a CliError when the broker cannot be reached.
 */
export async function adminCall(broker: BrokerFlags, request: AdminRequest): Promise<unknown> {
  const client = await connectOrFail(broker, { reconnect: false, connectTimeoutMs: ANSWER_TIMEOUT_MS });
  try {
    return await client.admin(request, ANSWER_TIMEOUT_MS);
  } finally {
    await client.close();
  }
}
