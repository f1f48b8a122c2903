/** The console's tables, one per admin view (protocol.md §17.2), with their row actions. */
import type { ReaderInfo, StreamInfo } from '../protocol/stream-info.js';
import { age, h, number, table } from './dom.js';

export interface QueueView {
  name: string; pattern: string | null; depth: number; inFlight: number; delayed: number; consumers: number;
  deadLetters: number; oldestAgeMs: number | null; stalled: string | null; publishRate: number; ackRate: number;
}
export interface SpaceView { name: string; persistent: boolean; tuples: number; reserved: number; waiting: number; notify: number; outRate: number; inRate: number }
export interface ConnectionView {
  id: string; name: string | null; remoteAddress: string; codec: string; user?: string | null; node?: string;
  subscriptions: number; pendingBytes: number; stalledMs: number; messagesIn: number; messagesOut: number; dropped: number;
  /** Topic of its last will (absent from a broker before wills). */
  will?: string | null;
}
export interface SubscriptionView { pattern: string; group: string | null; durable: string | null; subscribers: number; connections: string[]; node?: string }

export interface RowActions {
  peekQueue(name: string): void;
  purge(name: string): void;
  retry(name: string): void;
  peekSpace(name: string): void;
  tailSpace(name: string): void;
  kick(connection: string): void;
}

function button(label: string, action: () => void, danger = false): HTMLButtonElement {
  return h('button', { type: 'button', class: danger ? 'danger' : '', onclick: action }, label);
}

export function queuesTable(queues: QueueView[], act: RowActions): HTMLElement {
  const rows = queues.map((q) => h('tr', { class: q.stalled ? 'stalled' : '', 'data-queue': q.name },
    h('td', {}, q.name), h('td', {}, q.pattern ?? '(dead letters)'), h('td', { class: 'n' }, number(q.depth)),
    h('td', { class: 'n' }, number(q.inFlight)), h('td', { class: 'n' }, number(q.consumers)),
    h('td', { class: q.deadLetters > 0 ? 'n warn' : 'n' }, number(q.deadLetters)), h('td', { class: 'n' }, age(q.oldestAgeMs)),
    h('td', { class: 'n' }, `${q.publishRate} / ${q.ackRate}`), h('td', { class: 'reason' }, q.stalled ?? ''),
    h('td', { class: 'actions' }, button('peek', () => act.peekQueue(q.name)), button('purge', () => act.purge(q.name), true),
      q.deadLetters > 0 && button('retry dead letters', () => act.retry(q.name), true))));
  return table(['queue', 'pattern', 'ready', 'in flight', 'consumers', 'dead letters', 'oldest', 'pub / ack per s', 'stalled', ''], rows, 'No durable queues.');
}

export function spacesTable(spaces: SpaceView[], act: RowActions): HTMLElement {
  const rows = spaces.map((s) => h('tr', { 'data-space': s.name },
    h('td', {}, s.name), h('td', {}, s.persistent ? 'persistent' : 'transient'), h('td', { class: 'n' }, number(s.tuples)),
    h('td', { class: 'n' }, number(s.reserved)), h('td', { class: 'n' }, number(s.waiting)), h('td', { class: 'n' }, number(s.notify)),
    h('td', { class: 'n' }, `${s.outRate} / ${s.inRate}`),
    h('td', { class: 'actions' }, button('peek', () => act.peekSpace(s.name)), button('tail', () => act.tailSpace(s.name)))));
  return table(['space', 'mode', 'tuples', 'reserved', 'waiting', 'notify', 'out / in per s', ''], rows, 'No tuple spaces.');
}

/** Replayable streams: what each keeps, its limits, and each named reader's lag (its unacked deliveries, and whether it is attached). */
export function streamsTable(streams: StreamInfo[], now: number): HTMLElement {
  const rows = streams.map((s) => h('tr', { 'data-stream': s.name },
    h('td', {}, s.name), h('td', {}, s.pattern), h('td', { class: 'n' }, number(s.messages)), h('td', { class: 'n' }, number(s.bytes)),
    h('td', { class: 'n' }, s.messages === 0 ? '–' : `${s.firstSeq}–${s.lastSeq}`), h('td', { class: 'n' }, age(s.firstTime === null ? null : now - s.firstTime)),
    h('td', {}, limits(s.config)), h('td', { class: 'n' }, number(s.subscribers)),
    h('td', { class: 'readers' }, ...s.readers.map(reader))));
  return table(['stream', 'pattern', 'messages', 'bytes', 'seqs', 'oldest', 'limits', 'subscribers', 'named readers: lag'], rows, 'No streams.');
}

function limits(c: StreamInfo['config']): string {
  const parts: string[] = [];
  if (c.maxAge > 0) parts.push(`age ${age(c.maxAge)}`);
  if (c.maxMessages < Number.MAX_SAFE_INTEGER) parts.push(`${number(c.maxMessages)} msgs`);
  if (c.maxBytes < Number.MAX_SAFE_INTEGER) parts.push(`${number(c.maxBytes)} B`);
  return parts.length === 0 ? 'none' : `${parts.join(', ')}; discard ${c.discard}`;
}

/** A detached reader is greyed out: its lag only grows until it comes back. */
function reader(r: ReaderInfo): HTMLElement {
  const lag = r.lag > 0 ? 'lag warn' : 'lag';
  return h('span', { class: r.connected ? 'reader' : 'reader detached', 'data-reader': r.name, title: `position ${r.position}, ${r.unacked} unacked, ${r.connected ? 'attached' : 'detached'}` },
    r.name, ' ', h('b', { class: lag }, number(r.lag)), r.unacked > 0 && ` (${number(r.unacked)} unacked)`);
}

export function connectionsTable(connections: ConnectionView[], self: string | undefined, act: RowActions): HTMLElement {
  const rows = connections.map((c) => h('tr', { class: c.stalledMs > 0 ? 'stalled' : '', 'data-connection': c.id },
    h('td', {}, c.id, c.id === self ? ' (this console)' : ''), h('td', {}, c.name ?? ''), h('td', {}, c.remoteAddress),
    h('td', {}, c.user ?? ''), h('td', { class: 'n' }, number(c.subscriptions)), h('td', { class: 'n' }, number(c.messagesIn)),
    h('td', { class: 'n' }, number(c.messagesOut)), h('td', { class: 'n' }, number(c.pendingBytes)),
    h('td', { class: c.dropped > 0 ? 'n warn' : 'n' }, number(c.dropped)), h('td', {}, c.will ?? ''),
    h('td', { class: 'actions' }, c.id !== self && button('kick', () => act.kick(c.id), true))));
  return table(['connection', 'name', 'address', 'user', 'subs', 'in', 'out', 'pending bytes', 'dropped', 'will', ''], rows, 'No connections.');
}

export function subscriptionsTable(subs: SubscriptionView[]): HTMLElement {
  const rows = subs.map((s) => h('tr', {},
    h('td', {}, s.pattern), h('td', {}, s.group ?? ''), h('td', {}, s.durable ?? ''), h('td', { class: 'n' }, number(s.subscribers)),
    h('td', { class: 'ids' }, s.connections.join(' '))));
  return table(['pattern', 'group', 'durable queue', 'subscribers', 'connections'], rows, 'No subscriptions.');
}
