import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINDEN_VERSION } from '../protocol/version.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string; version: string; exports: Record<string, unknown>; bin: Record<string, string>;
};

test('the version the broker reports is the package version', () => {
  expect(LINDEN_VERSION).toBe(pkg.version);
});

test('one package named linden exporting the SDK, the server and the linden bin', () => {
  expect(pkg.name).toBe('linden');
  expect(Object.keys(pkg.exports).sort()).toEqual(['.', './server']);
  expect(pkg.bin).toEqual({ linden: './dist/cli/main.js' });
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
