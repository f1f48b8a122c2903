import { Option, type Command } from 'commander';
import type { StreamInfo, StreamSettings } from '../../client-sdk/index.js';
import { assertName } from '../../protocol/names.js';
import { assertPattern } from '../../protocol/topics.js';
import { action, addUrlOption, connectOrFail, EXIT, finish, integer, orNotFound, printJson, printJsonLines, type BrokerFlags } from '../common.js';
import { addInspectOptions, fetchApi, type InspectFlags } from './inspect-api.js';
import { bytes, duration, fields, since, table } from './inspect-format.js';

interface StreamFlags extends BrokerFlags {
  maxAge?: number;
  maxMessages?: number;
  maxBytes?: number;
  discard?: StreamSettings['discard'];
}

/**
 * `linden stream create|delete|info` and `linden streams`: replayable streams (README
 * "Replayable streams"). Changes go over the WebSocket protocol; the views are the admin API's.
 */
export function register(program: Command): void {
  const stream = program
    .command('stream')
    .description('create, delete or show a replayable stream (persistent messages kept by retention limits, read again from any point)');

  const create = stream
    .command('create')
    .description('create a stream, or change the limits of an existing one (its pattern cannot change)')
    .argument('<name>', 'stream name: letters, digits and _ . : -')
    .argument('<pattern>', 'topic pattern whose persistent messages it keeps, e.g. orders.>')
    .addOption(new Option('--max-age <ms>', 'drop messages older than this (default: none)').argParser(integer(1)))
    .addOption(new Option('--max-messages <n>', 'messages kept (default: no limit)').argParser(integer(1)))
    .addOption(new Option('--max-bytes <n>', 'payload bytes kept (default: no limit)').argParser(integer(1)))
    .addOption(new Option('--discard <policy>', 'at a limit: drop the oldest (old, default) or refuse the new message (new)').choices(['old', 'new']));
  addUrlOption(create).action(action(createStream));

  const remove = stream
    .command('delete')
    .description('delete a stream, its messages and its readers\' positions')
    .argument('<name>', 'stream name');
  addUrlOption(remove).action(action(deleteStream));

  const info = stream
    .command('info')
    .description('show a stream: first and last seq, messages, bytes, limits and its named readers with their lag')
    .argument('<name>', 'stream name');
  addInspectOptions(info).action(action(showStream));

  const list = program
    .command('streams')
    .description('list replayable streams with their seqs, size and readers');
  addInspectOptions(list).action(action(listStreams));
}

async function createStream(name: string, pattern: string, flags: StreamFlags): Promise<void> {
  assertName('stream', name);
  assertPattern(pattern);
  const settings: StreamSettings = {};
  for (const key of ['maxAge', 'maxMessages', 'maxBytes', 'discard'] as const) {
    if (flags[key] !== undefined) (settings as Record<string, unknown>)[key] = flags[key];
  }
  const client = await connectOrFail(flags, { reconnect: false });
  try {
    await client.createStream(name, pattern, settings);
  } finally {
    await client.close();
  }
  process.stderr.write(`stream ${name} keeps persistent messages on ${pattern}\n`);
  finish(EXIT.OK);
}

async function deleteStream(name: string, flags: BrokerFlags): Promise<void> {
  assertName('stream', name);
  const client = await connectOrFail(flags, { reconnect: false });
  try {
    await orNotFound(flags.url, 'stream', name, () => client.deleteStream(name));
  } finally {
    await client.close();
  }
  process.stderr.write(`stream ${name} deleted\n`);
  finish(EXIT.OK);
}

async function showStream(name: string, flags: InspectFlags): Promise<void> {
  assertName('stream', name);
  const s = await fetchApi<StreamInfo>(flags, `/api/streams/${encodeURIComponent(name)}`, { kind: 'stream', name });
  if (flags.json) printJson(s);
  else process.stdout.write(streamDetail(s));
  finish(EXIT.OK);
}

async function listStreams(flags: InspectFlags): Promise<void> {
  const list = await fetchApi<StreamInfo[]>(flags, '/api/streams');
  if (flags.json) printJsonLines(list);
  else process.stdout.write(streamTable(list));
  finish(EXIT.OK);
}

export function streamTable(list: readonly StreamInfo[]): string {
  return table(list, [
    { header: 'NAME', value: (s) => s.name },
    { header: 'PATTERN', value: (s) => s.pattern },
    { header: 'FIRST', value: (s) => String(s.firstSeq), right: true },
    { header: 'LAST', value: (s) => String(s.lastSeq), right: true },
    { header: 'MESSAGES', value: (s) => String(s.messages), right: true },
    { header: 'SIZE', value: (s) => bytes(s.bytes), right: true },
    { header: 'READERS', value: (s) => String(s.readers.length), right: true },
    { header: 'MAX LAG', value: (s) => String(Math.max(0, ...s.readers.map((r) => r.lag))), right: true },
  ], 'no streams');
}

function streamDetail(s: StreamInfo): string {
  const c = s.config;
  const limit = (n: number, show: (n: number) => string): string => (n >= Number.MAX_SAFE_INTEGER ? 'none' : show(n));
  const head = fields([
    ['stream', s.name],
    ['pattern', s.pattern],
    ['seqs', s.messages === 0 ? `empty (next ${s.lastSeq + 1})` : `${s.firstSeq} .. ${s.lastSeq}`],
    ['messages', `${s.messages}, ${bytes(s.bytes)}`],
    ['oldest', s.firstTime === null ? '-' : since(s.firstTime)],
    ['limits', `maxAge ${c.maxAge === 0 ? 'none' : duration(c.maxAge)}, maxMessages ${limit(c.maxMessages, String)}, maxBytes ${limit(c.maxBytes, bytes)}, discard ${c.discard}`],
    ['subscribers', `${s.subscribers} without a reader name`],
    ['created', since(s.createdAt)],
  ]);
  const readers = table(s.readers, [
    { header: 'READER', value: (r) => r.name },
    { header: 'POSITION', value: (r) => String(r.position), right: true },
    { header: 'LAG', value: (r) => String(r.lag), right: true },
    { header: 'UNACKED', value: (r) => String(r.unacked), right: true },
    { header: 'CONNECTED', value: (r) => (r.connected ? 'yes' : 'no') },
  ], 'no named readers');
  return `${head}\n${readers}`;
}
