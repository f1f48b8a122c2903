import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * `npm run build`, after tsc: the client SDK as one ES module for browsers, dist/sdk/linden.js
 * with its source map, which the broker serves at /sdk/linden.js and the package exports as
 * `linden/browser`. Run from dist/cli, so the sources are two folders up.
 */
const root = new URL('../../', import.meta.url);
const outdir = fileURLToPath(new URL('dist/sdk/', root));

const result = await build({
  entryPoints: [fileURLToPath(new URL('client-sdk/index.ts', root))],
  outfile: `${outdir}linden.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  // Error and class names stay readable in stack traces and `err.name`.
  keepNames: true,
  sourcemap: 'linked',
  // The sources inside the map: a browser's debugger shows them without fetching anything else.
  sourcesContent: true,
  metafile: true,
  logLevel: 'warning',
});

// One self-contained module: a page imports it by URL, where no bare name (msgpackr, ws) or
// node: module could resolve. `ws` is loaded by a computed name only in Node, invisible here.
const leftover = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
const nodeInputs = Object.keys(result.metafile.inputs).filter((i) => i.startsWith('node:'));
if (leftover.length > 0 || nodeInputs.length > 0) {
  throw new Error(`the browser SDK must import nothing, but imports ${JSON.stringify([...leftover.map((i) => i.path), ...nodeInputs])}`);
}

// The types are those of the package's root export, which tsc has written to dist/client-sdk.
writeFileSync(`${outdir}linden.d.ts`, "export * from '../client-sdk/index.js';\n");
