/** The space-index micro-benchmark in its own process; prints its result as one JSON line. */
import { runSpaceIndex } from './space-index.js';

const [tuples, takes] = process.argv.slice(2).map(Number);
process.stdout.write(JSON.stringify(await runSpaceIndex(tuples!, takes!)) + '\n');
