import { CACHE_LIMIT, Router } from '../server/pubsub/router.js';

test('the route cache evicts its oldest topic at the limit instead of dropping every route', () => {
  const router = new Router();
  for (let i = 0; i < CACHE_LIMIT + 10; i++) router.match(`t.${i}`);
  expect(router.census().cachedRoutes).toBe(CACHE_LIMIT);
  expect(router.cached('t.0')).toBeUndefined(); // the oldest went
  expect(router.cached('t.9')).toBeUndefined();
  expect(router.cached('t.10')).toBeDefined(); // the rest stayed
  expect(router.cached(`t.${CACHE_LIMIT + 9}`)).toBeDefined();
});
