import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withOptionTable } from './config/option-table.js';

// `npm run docs`: README's generated parts, rewritten from the code they describe.
const readme = fileURLToPath(new URL('../../README.md', import.meta.url));
const before = readFileSync(readme, 'utf8');
const after = withOptionTable(before);
if (after !== before) writeFileSync(readme, after);
process.stdout.write(`README.md ${after === before ? 'was up to date' : 'updated'}\n`);
