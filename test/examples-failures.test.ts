/**
 * The examples end an expected failure the way README's "Examples" section says: one line on
 * stderr naming the example, no stack trace, exit 1 for the broker (unreachable, refusing) and 2
 * for usage (bad arguments, an unreadable file, a broker URL that is not ws:// or wss://).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTracker, failure, type Exit } from './helpers/child-process.js';
import { EXAMPLES, requireCompiledExample } from './helpers/examples.js';
import { freePort, testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
let dir: string;
let file: string;

/** Runs an example to completion against `url` (LINDEN_URL); the developer's own settings stay out. */
function run(url: string, script: string, args: string[] = []): Promise<Exit> {
  return children.spawn(EXAMPLES + script, args, { LINDEN_URL: url }, ['NODE_OPTIONS', 'ORDER_COUNT', 'ORDER_ACK', 'CRASH_AFTER', 'REQUEST_TIMEOUT_MS']).exited;
}

/** Every example as it would start talking to a broker. */
function everyExample(): Array<[string, string[]]> {
  return [
    ['bag-of-tasks-master.js', ['2', '1']], ['bag-of-tasks-worker.js', ['w1']], ['compression-interceptor.js', []],
    ['consumer.js', ['1']], ['dead-letter-worker.js', []], ['file-receiver.js', [join(dir, 'copy.bin')]], ['file-sender.js', [file]],
    ['persistent-consumer.js', ['1']], ['persistent-producer.js', ['1']], ['producer.js', ['1']],
    ['request-reply.js', []], ['request-reply.js', ['requester']], ['space-request-reply.js', ['client', 'add:1,2']],
    ['retained-status.js', []],
  ];
}

beforeAll(() => requireCompiledExample('run.js'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linden-example-failures-'));
  file = join(dir, 'small.bin');
  await writeFile(file, randomBytes(3_000));
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
  await rm(dir, { recursive: true, force: true });
});

test('no broker: every example says it cannot reach the broker, exit 1', async () => {
  const url = `ws://127.0.0.1:${await freePort()}`;
  const examples = everyExample();
  const exits = await Promise.all(examples.map(([script, args]) => run(url, script, args)));
  expect(exits.map((e, i) => ({ example: examples[i]![0], ...failure(e) }))).toEqual(examples.map(([script]) => ({
    example: script, code: 1, stdout: '', trace: false,
    stderr: [expect.stringMatching(new RegExp(`^${script.replace(/\./g, '\\.')}: cannot reach broker at ${url.replace(/\./g, '\\.')}: \\S`))],
  })));
});

test('a LINDEN_URL or URL argument that is not ws:// or wss:// is a usage error, exit 2', async () => {
  const examples = everyExample();
  for (const url of ['http://127.0.0.1:7070', 'not a url']) {
    const exits = await Promise.all(examples.map(([script, args]) => run(url, script, args)));
    expect(exits.map((e, i) => ({ example: examples[i]![0], ...failure(e) }))).toEqual(examples.map(([script]) => ({
      example: script, code: 2, stdout: '', trace: false,
      stderr: [`${script}: invalid broker URL "${url}": expected ws:// or wss://, e.g. ws://127.0.0.1:7070`],
    })));
  }
  const asArgument = failure(await run('ws://127.0.0.1:1', 'file-sender.js', [file, 'files', 'ftp://x']));
  expect(asArgument).toEqual({ code: 2, stdout: '', trace: false, stderr: ['file-sender.js: invalid broker URL "ftp://x": expected ws:// or wss://, e.g. ws://127.0.0.1:7070'] });
});

test('file-sender: a file that cannot be read is a usage error, exit 2', async () => {
  const broker = await t.start();
  const missing = join(dir, 'missing.bin');
  expect(failure(await run(broker.url, 'file-sender.js', [missing]))).toEqual({
    code: 2, stdout: '', trace: false, stderr: [`file-sender.js: cannot read ${missing}: no such file`],
  });
  expect(failure(await run(broker.url, 'file-sender.js', [dir]))).toEqual({
    code: 2, stdout: '', trace: false, stderr: [expect.stringMatching(new RegExp(`^file-sender\\.js: cannot read ${dir}: EISDIR`))],
  });
});

test('request-reply without a responder: NO_RESPONDERS in one line, exit 1', async () => {
  const broker = await t.start();
  expect(failure(await run(broker.url, 'request-reply.js', ['requester']))).toEqual({
    code: 1, stdout: '', trace: false, stderr: ['request-reply.js: error NO_RESPONDERS: no subscriber for request on "math.add"'],
  });
});

test('file-sender: a file over the broker\'s maxMessageBytes is refused in one line, exit 1', async () => {
  const broker = await t.start({ maxMessageBytes: 1024 });
  expect(failure(await run(broker.url, 'file-sender.js', [file]))).toEqual({
    code: 1, stdout: '', trace: false,
    stderr: [expect.stringMatching(/^file-sender\.js: error MESSAGE_TOO_LARGE: payload of \d+ bytes exceeds maxMessageBytes \(1024\)$/)],
  });
});

test('an invalid topic or pattern given to the file examples is a usage error, exit 2', async () => {
  const broker = await t.start();
  const [sender, receiver] = await Promise.all([
    run(broker.url, 'file-sender.js', [file, 'files..bad']),
    run(broker.url, 'file-receiver.js', [join(dir, 'copy.bin'), 'files.>.bad']),
  ]);
  expect([failure(sender), failure(receiver)]).toEqual([
    { code: 2, stdout: '', trace: false, stderr: ['file-sender.js: error INVALID_TOPIC: invalid topic "files..bad": has an empty token at position 1'] },
    { code: 2, stdout: '', trace: false, stderr: ['file-receiver.js: error INVALID_PATTERN: invalid pattern "files.>.bad": `>` may only be the last token'] },
  ]);
});
