import { Option, type Command } from 'commander';
import { MAX_PEEK } from '../../protocol/frames.js';
import { explainSocketError } from '../../client-sdk/transport.js';
import { addUrlOption, authorizationHeader, certificateAdvice, CliError, integer, notFoundMessage, trustedCa, type BrokerFlags } from '../common.js';
import { httpGet, type HttpAnswer } from '../http-get.js';

/** Flags every inspection view takes. */
export interface InspectFlags extends BrokerFlags {
  json?: boolean;
}

/**
 * Adds `--url` and `--ca` (the same as every other subcommand takes: the admin API listens on
 * the broker's own port, so one setting serves both) and `--json`.
 */
export function addInspectOptions(command: Command): Command {
  command.addOption(new Option('--json', 'print the admin API\'s JSON (stable field names) instead of a table: one object per line'));
  return addUrlOption(command);
}

/** ws://host:port/... -> http://host:port; wss -> https. `--url` was checked to be ws:// or wss://. */
export function httpBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}

// A broker that accepts the connection but never answers must not hang a script.
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * GETs `path` from the admin API. Unreachable brokers and unknown names become CliErrors
 * (exit 1) with a sentence naming what was asked; `missing` names it for the 404 case.
 */
export async function fetchApi<T>(broker: BrokerFlags, path: string, missing?: { kind: 'queue' | 'space' | 'stream'; name: string }): Promise<T> {
  const wsUrl = broker.url;
  let res: HttpAnswer;
  try {
    res = await httpGet(httpBase(wsUrl) + path, { ca: trustedCa(broker), timeoutMs: REQUEST_TIMEOUT_MS, authorization: authorizationHeader(broker) });
  } catch (err) {
    // The same words as over the WebSocket for a refused certificate; otherwise the bare code (ECONNREFUSED).
    const explained = explainSocketError(err as Error);
    const reason = explained !== err ? explained.message : (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CliError(`cannot reach broker at ${wsUrl}: ${reason}${certificateAdvice(broker, reason)}`);
  }
  const text = res.text;
  if (res.status === 404 && missing) throw new CliError(notFoundMessage(wsUrl, missing.kind, missing.name));
  if (res.status < 200 || res.status > 299) {
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch { /* not JSON: an older broker or something else on that port */ }
    throw new CliError(`broker at ${wsUrl} answered ${res.status} for ${path}: ${message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(`broker at ${wsUrl} did not answer ${path} with JSON: is it a Linden broker with the admin API?`);
  }
}

/** `--node` of the views that list every node's in cluster mode: the asked node's own only. */
export function addNodeOption(command: Command, what: string): Command {
  return command.addOption(new Option('--node', `cluster mode: only the ${what} of the node at --url (default: every node's)`));
}

/** The query string of `--node`. */
export function scopeQuery(flags: { node?: boolean }): string {
  return flags.node ? '?scope=node' : '';
}

/** `--peek <n>` of the detail views: the broker shows at most MAX_PEEK. */
export function addPeekOption(command: Command, what: string): Command {
  return command.addOption(new Option('--peek <n>', `also show ${what}, without consuming anything (at most ${MAX_PEEK})`).argParser(integer(1, MAX_PEEK)));
}
