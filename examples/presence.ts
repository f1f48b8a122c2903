/**
 * Presence with last wills: each member announces itself `online` on `status.<name>` and leaves
 * `offline (lost)` with the broker as its will, which the broker publishes if the member's
 * connection ends without close(). A watcher subscribed to `status.*` so learns who leaves, even
 * a member whose process dies without a word.
 *
 *   npm run build && npm start                           # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/presence.js                       # a watcher, a member that crashes and one that leaves; exits 0
 *   node dist/examples/presence.js watch                 # or: a watcher until Ctrl-C ...
 *   node dist/examples/presence.js member sensor-7       # ... and members in other terminals: Ctrl-C leaves
 *                                                        #     cleanly, `kill -9` of the process sends its will
 *
 * WILL_DELAY_MS (default 0) makes the broker wait that long before it publishes the will, and
 * not at all if the member reconnects in time. LINDEN_URL points it at another broker.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type Message } from 'linden';
import { brokerUrl, fail, reportFailures } from './run.js';

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const [role = 'demo', name = 'sensor-7', ending] = process.argv.slice(2);
const delay = Number(process.env.WILL_DELAY_MS ?? 0);
if (!Number.isInteger(delay) || delay < 0) fail(`WILL_DELAY_MS must be a whole number of ms, not "${process.env.WILL_DELAY_MS}"`, 2);

if (role === 'watch') {
  const watcher = await connect(url, { name: 'presence-watcher' });
  process.once('SIGINT', () => void watcher.close());
  await watch(watcher);
} else if (role === 'member') {
  await member(name, ending);
} else if (role === 'demo') {
  const watcher = await connect(url, { name: 'presence-watcher' });
  const changes = watcher.subscribe<string>('status.*');
  await changes.ready; // subscribed before the members come
  const next = changes[Symbol.asyncIterator]();
  const print = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) show((await next.next()).value);
  };
  // Two members in processes of their own: one is killed, the other leaves as it should.
  await run(['member', 'sensor-7', 'crash']);
  await print(2); // online, then its will
  await run(['member', 'sensor-8', 'leave']);
  await print(2); // online, then its own offline: the will was dropped
  await watcher.close();
} else {
  fail(`usage: presence.js [demo | watch | member <name> [crash|leave]]  (got "${role}")`, 2);
}

/** Prints each presence change on `status.*` until the client closes. */
async function watch(client: Client): Promise<void> {
  const changes = client.subscribe<string>('status.*');
  await changes.ready;
  console.log('watching status.*');
  for await (const msg of changes) show(msg);
}

function show(msg: Message<string>): void {
  console.log(`${msg.topic.slice('status.'.length)}: ${msg.data}`);
}

/**
 * A member: online now (and after each reconnection), its will says `offline (lost)`. `crash`:
 * the process kills itself without closing; `leave`: it says `offline` and closes, and the broker
 * drops the will; neither: it stays until Ctrl-C, then leaves.
 */
async function member(who: string, end: string | undefined): Promise<void> {
  const topic = `status.${who}`;
  const client = await connect(url, { name: who, will: { topic, data: 'offline (lost)', ...(delay > 0 ? { delay } : {}) } });
  void (async () => {
    // A reconnection (after a lost connection or a broker's restart) announces the member again.
    for await (const e of client.status()) if (e.type === 'connected') await client.publish(topic, 'online');
  })();
  await client.publish(topic, 'online', { ack: 'submission' });
  const leave = async (): Promise<void> => {
    await client.publish(topic, 'offline', { ack: 'submission' });
    await client.close();
  };
  if (end === 'crash') process.kill(process.pid, 'SIGKILL'); // no close(): only the broker can tell
  else if (end === 'leave') await leave();
  else process.once('SIGINT', () => void leave());
}

/** Runs this script with `args` in a child process; resolves when it has ended. */
function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}
