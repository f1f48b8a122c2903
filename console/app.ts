/**
 * The web console (issue 16), served by the broker at `/`: live views of queues, spaces,
 * connections and subscriptions, message rates, and actions, all over one WebSocket to the
 * broker that served the page (admin operations, protocol.md §17). Views refresh every two
 * seconds while the tab is visible: five `admin` requests on that connection, one after the
 * other finishes, never a burst of HTTP polls.
 */
import { connect, LindenError, type Client, type ConnectOptions, type Notification, type Subscription } from '../client-sdk/index.js';
import { RateChart } from './charts.js';
import { byId, h, number, show } from './dom.js';
import type { StreamInfo } from '../protocol/stream-info.js';
import { connectionsTable, queuesTable, spacesTable, streamsTable, subscriptionsTable, type ConnectionView, type QueueView, type RowActions, type SpaceView, type SubscriptionView } from './views.js';

const REFRESH_MS = 2_000;
const LOG_LINES = 200;
const brokerUrl = location.origin.replace(/^http/, 'ws');

let client: Client | undefined;
let selfId: string | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
const charts = { in: new RateChart('messages in'), out: new RateChart('messages out') };
const tails: { label: string; stop(): void }[] = [];

/** One line in the output panel, newest first; `kind` styles it. */
function log(kind: 'info' | 'error' | 'msg' | 'event' | 'peek', text: string): void {
  const list = byId('log');
  list.prepend(h('li', { class: kind }, h('time', {}, new Date().toLocaleTimeString()), ' ', text));
  while (list.childElementCount > LOG_LINES) list.lastElementChild!.remove();
}

function status(text: string, kind: 'ok' | 'error' | 'wait'): void {
  const el = byId('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

function describe(err: unknown): string {
  return err instanceof LindenError ? `${err.code}: ${err.message}` : String(err);
}

/** A payload as one line: JSON, bytes as their count. */
function render(value: unknown): string {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : typeof v === 'bigint' ? String(v) : v));
  } catch {
    return String(value);
  }
}

/** JSON when it parses, else the text itself: `hello` and `"hello"` both publish a string. */
function parseLoose(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function admin<T>(request: Record<string, unknown>): Promise<T> {
  if (!client) throw new LindenError('CLOSED', 'not connected');
  return (await client.admin(request as never)) as T;
}

async function refresh(): Promise<void> {
  timer = undefined;
  if (!client || document.visibilityState === 'hidden') return;
  try {
    const [queues, spaces, connections, subscriptions, streams] = await Promise.all([
      admin<QueueView[]>({ op: 'queues' }), admin<SpaceView[]>({ op: 'spaces' }),
      admin<ConnectionView[]>({ op: 'connections' }), admin<SubscriptionView[]>({ op: 'subscriptions' }), admin<StreamInfo[]>({ op: 'streams' }),
    ]);
    const act = rowActions();
    show(byId('queues'), queuesTable(queues, act));
    show(byId('spaces'), spacesTable(spaces, act));
    show(byId('streams'), streamsTable(streams, Date.now()));
    show(byId('connections'), connectionsTable(connections, selfId, act));
    show(byId('subscriptions'), subscriptionsTable(subscriptions));
    charts.in.sample(connections.reduce((n, c) => n + c.messagesIn, 0));
    charts.out.sample(connections.reduce((n, c) => n + c.messagesOut, 0));
    show(byId('totals'),
      card('connections', connections.length), card('queues', queues.length),
      card('ready', queues.reduce((n, q) => n + q.depth, 0)), card('in flight', queues.reduce((n, q) => n + q.inFlight, 0)),
      card('dead letters', queues.reduce((n, q) => n + q.deadLetters, 0), true),
      card('stalled queues', queues.filter((q) => q.stalled).length, true),
      card('spaces', spaces.length), card('tuples', spaces.reduce((n, s) => n + s.tuples, 0)),
      card('streams', streams.length), card('stream messages', streams.reduce((n, s) => n + s.messages, 0)));
    byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    log('error', `refresh: ${describe(err)}`);
  }
  schedule();
}

function card(label: string, value: number, alarm = false): HTMLElement {
  return h('div', { class: alarm && value > 0 ? 'card alarm' : 'card' }, h('span', {}, label), h('strong', {}, number(value)));
}

function schedule(): void {
  if (timer === undefined && client) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function rowActions(): RowActions {
  const run = (what: string, op: () => Promise<unknown>) => void op().then(
    (result) => { log('info', `${what}: ${render(result ?? 'done')}`); void refreshNow(); },
    (err) => log('error', `${what}: ${describe(err)}`),
  );
  return {
    peekQueue: (name) => run(`peek ${name}`, async () => {
      const view = await admin<{ peek: { mid: string; topic: string; data?: unknown }[] }>({ op: 'queue', name, peek: 10 });
      for (const m of view.peek) log('peek', `${name} ${m.topic} ${render(m.data)}`);
      return `${view.peek.length} ready message(s) shown`;
    }),
    purge: (name) => { if (confirm(`Purge the ready messages of queue "${name}"? They are deleted.`)) run(`purge ${name}`, () => admin({ op: 'purge', name })); },
    retry: (name) => { if (confirm(`Move the dead letters of "${name}.dlq" back into "${name}"?`)) run(`retry ${name}`, () => admin({ op: 'retry', name })); },
    peekSpace: (name) => run(`peek space ${name}`, async () => {
      const view = await admin<{ peek: { tuple: unknown }[] }>({ op: 'space', name, peek: 10 });
      for (const t of view.peek) log('peek', `${name} ${render(t.tuple)}`);
      return `${view.peek.length} tuple(s) shown`;
    }),
    // A notify template has a fixed arity: the row's tail watches the arities the space holds now.
    tailSpace: (name) => run(`tail space ${name}`, async () => {
      const view = await admin<{ peek: { tuple: unknown[] }[] }>({ op: 'space', name, peek: 100 });
      const arities = [...new Set(view.peek.map((t) => t.tuple.length))].slice(0, 8);
      if (arities.length === 0) {
        byId<HTMLInputElement>('tail-space-name').value = name;
        byId<HTMLInputElement>('tail-space-template').focus();
        return 'the space holds no tuple to take an arity from: give a template below';
      }
      for (const arity of arities) await tailSpace(name, Array.from({ length: arity }, () => ({ $any: true })));
      return `watching tuples of ${arities.join(', ')} field(s)`;
    }),
    kick: (connection) => { if (confirm(`Close connection ${connection}? Its client may reconnect.`)) run(`kick ${connection}`, () => admin({ op: 'kick', connection })); },
  };
}

async function refreshNow(): Promise<void> {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  await refresh();
}

function showTails(): void {
  show(byId('tails'), ...tails.map((t, i) => h('li', {}, t.label, ' ', h('button', { type: 'button', onclick: () => { t.stop(); tails.splice(i, 1); showTails(); } }, 'stop'))));
}

/** Wires a form: `run` gets its fields; errors go to the log. */
function onSubmit(id: string, run: (fields: Record<string, string>, form: HTMLFormElement) => Promise<void>): void {
  const form = byId<HTMLFormElement>(id);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields: Record<string, string> = {};
    new FormData(form).forEach((value, key) => { fields[key] = String(value); });
    run(fields, form).catch((err) => log('error', `${id}: ${describe(err)}`));
  });
}

/** Follows a space's notify stream for `template` into the log until stopped. */
async function tailSpace(space: string, template: unknown[]): Promise<void> {
  const notes: Notification<unknown[]> = client!.space(space).notify(template);
  await notes.ready;
  tails.push({ label: `space ${space} ${render(template)}`, stop: () => void notes.return() });
  showTails();
  void (async () => { for await (const e of notes) log('event', `${space} ${e.type} ${render(e.tuple)}`); })();
}

function wireActions(): void {
  onSubmit('publish', async (f) => {
    const receipt = await client!.publish(f.topic!, parseLoose(f.data ?? ''), { mode: f.persistent ? 'persistent' : 'transient', ack: f.ack as 'submission' });
    log('info', `published to ${f.topic}: ${receipt ? render(receipt) : 'sent'}`);
    void refreshNow();
  });
  onSubmit('out', async (f) => {
    const tuple = JSON.parse(f.tuple!) as unknown;
    if (!Array.isArray(tuple)) throw new Error('a tuple is a JSON array, e.g. ["job", 1]');
    await client!.space(f.space!).out(tuple);
    log('info', `out to ${f.space}: ${render(tuple)}`);
    void refreshNow();
  });
  onSubmit('tail-topic', async (f) => {
    const sub: Subscription<unknown> = client!.subscribe(f.pattern!, { callback: (m) => log('msg', `${m.topic} ${render(m.data)}`) });
    await sub.ready;
    tails.push({ label: `topic ${f.pattern}`, stop: () => sub.unsubscribe() });
    showTails();
  });
  onSubmit('tail-space', async (f) => {
    const template = JSON.parse(f.template || '[{"$any": true}]') as unknown;
    if (!Array.isArray(template)) throw new Error('a template is a JSON array, e.g. ["job", {"$any": true}]');
    await tailSpace(f.space!, template);
  });
  onSubmit('login', async (f) => {
    await start(f.token ? { token: f.token } : { user: f.user, password: f.password });
  });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') void refreshNow(); });
}

async function start(auth: ConnectOptions = {}): Promise<void> {
  status(`connecting to ${brokerUrl}`, 'wait');
  const previous = client;
  client = undefined;
  await previous?.close().catch(() => undefined);
  try {
    const c = await connect(brokerUrl, { name: 'web-console', ...auth });
    client = c;
    selfId = c.connectionId;
    void (async () => {
      for await (const e of c.status()) {
        if (client !== c) return;
        if (e.type === 'connected') { selfId = e.connectionId; status(`connected to ${brokerUrl}`, 'ok'); void refreshNow(); }
        else if (e.type === 'disconnected') status(`disconnected (${e.code}), reconnecting`, 'error');
        else if (e.type === 'draining') status('the broker is stopping; moving on', 'wait');
      }
    })();
    await admin({ op: 'queues' }); // an admin right check before showing anything
    byId('login').hidden = true;
    status(`connected to ${brokerUrl}`, 'ok');
    await refreshNow();
  } catch (err) {
    const denied = err instanceof LindenError && (err.code === 'AUTH_FAILED' || err.code === 'PERMISSION_DENIED');
    byId('login').hidden = !denied;
    status(denied ? 'log in as an admin user' : `cannot reach ${brokerUrl}: ${describe(err)}`, 'error');
    if (!denied) log('error', describe(err));
  }
}

show(byId('charts'), charts.in.element, charts.out.element);
wireActions();
void start();
