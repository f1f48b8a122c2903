import { testBroker } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

test('a message published by one client reaches a subscriber of another', async () => {
  const a = await t.client();
  const b = await t.client({ codec: 'json' });
  const sub = b.subscribe('greet.*');
  await sub.ready;
  await a.publish('greet.world', { hello: 'world' });
  const it = sub[Symbol.asyncIterator]();
  const { value } = await it.next();
  expect(value!.topic).toBe('greet.world');
  expect(value!.data).toEqual({ hello: 'world' });
});
