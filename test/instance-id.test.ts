import { instanceId } from '../server/instance-id.js';

test('a broker instance id is 8 letters and digits, so no id made from it begins with - (a CLI option)', () => {
  for (let i = 0; i < 10_000; i++) {
    const id = instanceId();
    if (!/^[0-9A-Za-z]{8}$/.test(id)) expect(id).toMatch(/^[0-9A-Za-z]{8}$/);
  }
});
