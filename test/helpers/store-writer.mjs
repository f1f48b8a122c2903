// A process that writes to an LmdbStore until it is killed: `node store-writer.mjs <dir>`.
// It keeps 64 writes in flight and prints each key's number on stdout only after that write's
// promise resolved, so every number printed must be in the store whenever the process dies.
// Runs the built store (dist/): `npm run build` first.
import { LmdbStore } from '../../dist/server/store/lmdb-store.js';

const store = await LmdbStore.open(process.argv[2]);
const pad = 'x'.repeat(150);
let next = 0;

function writeOne() {
  const n = next++;
  // A pair in one write(): the test checks that neither is ever found without the other.
  void store.write([{ key: ['crash', n], value: { n, pad } }, { key: ['pair', n], value: n }]).then(() => {
    process.stdout.write(`${n}\n`); // synchronous on a pipe: printed means handed to the parent
    writeOne();
  });
}

for (let i = 0; i < 64; i++) writeOne();
