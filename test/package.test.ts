import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINDEN_VERSION } from '../protocol/version.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string; version: string; exports: Record<string, unknown>; bin: Record<string, string>; files: string[];
};

test('the version the broker reports is the package version', () => {
  expect(LINDEN_VERSION).toBe(pkg.version);
});

test('one package named linden exporting the SDK, the browser SDK, the server and the linden bin', () => {
  expect(pkg.name).toBe('linden');
  expect(Object.keys(pkg.exports).sort()).toEqual(['.', './browser', './server']);
  expect(pkg.exports['./browser']).toEqual({ types: './dist/sdk/linden.d.ts', default: './dist/sdk/linden.js' });
  expect(pkg.bin).toEqual({ linden: './dist/cli/main.js' });
});

test('linden/browser resolves through the package exports to the built module, with the SDK\'s types', async () => {
  const work = await mkdtemp(join(tmpdir(), 'linden-package-'));
  try {
    // An application next to an installed linden (a link to this folder), as a bundler or Node sees it.
    await mkdir(join(work, 'node_modules'));
    await symlink(root, join(work, 'node_modules', 'linden'), 'dir');
    const app = join(work, 'app.mts');
    await writeFile(app, [
      "import { connect, LindenError, type Client, type Message } from 'linden/browser';",
      "export const open: (url: string) => Promise<Client> = (url) => connect(url, { codec: 'json' });",
      "export const read = (m: Message<string>): string => m.data + (m instanceof LindenError ? '' : '');",
      "console.log(import.meta.resolve('linden/browser'));",
      '',
    ].join('\n'));
    const resolved = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('linden/browser'))"], { cwd: work, encoding: 'utf8' }).trim();
    expect(realpathSync(fileURLToPath(resolved))).toBe(realpathSync(join(root, 'dist', 'sdk', 'linden.js')));
    const source = readFileSync(join(root, 'dist', 'sdk', 'linden.js'), 'utf8');
    expect(source).toMatch(/export\s*\{[^}]*\bconnect\b/);
    expect(source).not.toMatch(/\bfrom\s*["']/); // self-contained: imports nothing
    // The types come along: tsc type-checks the application against them.
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), app], { cwd: work, encoding: 'utf8' });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  expect(pkg.files).toContain('dist');
}, 60_000);

test('npm run build writes the browser SDK with esbuild, which npm install provides', () => {
  const manifest = pkg as unknown as { scripts: Record<string, string>; devDependencies: Record<string, string> };
  expect(manifest.scripts.build).toMatch(/node dist\/cli\/build-sdk\.js/);
  // `npm install` (CI: `npm install && npm test`) installs devDependencies, and prepare builds.
  expect(manifest.devDependencies.esbuild).toBeDefined();
});

test('the client SDK and protocol never import server code, node: modules or ws statically', () => {
  for (const dir of ['client-sdk', 'protocol']) {
    for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(join(root, dir, file), 'utf8');
      const imports = [...source.matchAll(/^import\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
      for (const specifier of imports) {
        expect({ file, specifier, server: /(^|\/)server(\/|$)/.test(specifier) }).toMatchObject({ server: false });
        expect({ file, specifier, node: specifier.startsWith('node:') }).toMatchObject({ node: false });
        expect({ file, specifier, ws: specifier === 'ws' }).toMatchObject({ ws: false });
      }
    }
  }
});

test('CI runs the README\'s test command, and npm test installs the Debian packages the tests use', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const command = /one command installs what the tests need and runs the whole suite[^`]*```sh\n([^\n]+)\n```/.exec(readme)?.[1];
  expect(command).toBe('npm install && npm test');
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  expect(ci.at(-1)).toBe(command);
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.pretest).toBe('bash .ci/system-packages');
  const install = readFileSync(join(root, '.ci', 'system-packages'), 'utf8');
  for (const pkg of ['chromium', 'redis-server']) expect(install).toContain(`command -v ${pkg}`);
});
