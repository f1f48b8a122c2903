/**
 * Edges of the wire contract (issue 20): invalid UTF-8 in a JSON text frame is a DECODE_ERROR on
 * an open connection (protocol.md §1.2).
 */
import { rawClients } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();

afterEach(async () => {
  const violations = raw.violations();
  await raw.closeAll();
  await t.cleanup();
  expect(violations).toEqual([]);
});

test('json: invalid UTF-8 in a text frame -> DECODE_ERROR, and the connection stays open', async () => {
  const broker = await t.start();
  const c = await raw.connect(broker.url, 'json');
  const text = Buffer.from('{"t":"ping","id":1}');
  c.sendRaw(Buffer.concat([text.subarray(0, 13), Buffer.from([0xff, 0xfe]), text.subarray(13)]), false);
  const err = await c.error('DECODE_ERROR');
  expect(err).not.toHaveProperty('re');
  await c.sync();
  expect(c.isClosed).toBe(false);
});
