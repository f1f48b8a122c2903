import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * `npm run build`, after the SDK (cli/build-sdk.ts): the web console into dist/console (its
 * page, its style and console/app.ts as one ES module) and the browser examples into
 * dist/examples/browser, all of which the broker serves. The console does not bundle the SDK a
 * second time: its import of the SDK becomes the broker's own `/sdk/linden.js`. Run from
 * dist/cli, so the sources are two folders up.
 */
const root = new URL('../../', import.meta.url);
const path = (p: string) => fileURLToPath(new URL(p, root));

/** The SDK, wherever the console imports it from, is the module the broker serves. */
const servedSdk: Plugin = {
  name: 'served-sdk',
  setup(b) {
    b.onResolve({ filter: /client-sdk\/index\.js$/ }, () => ({ path: '/sdk/linden.js', external: true }));
  },
};

await build({
  entryPoints: [path('console/app.ts')],
  outfile: path('dist/console/app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  sourcesContent: true,
  plugins: [servedSdk],
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) copyFileSync(path(`console/${file}`), path(`dist/console/${file}`));

mkdirSync(path('dist/examples/browser'), { recursive: true });
for (const file of readdirSync(path('examples/browser'))) copyFileSync(path(`examples/browser/${file}`), path(`dist/examples/browser/${file}`));
