import { pathToFileURL } from 'node:url';
import { FRAGMENTATION, fragmentation } from '../../protocol/fragmentation.js';
import type { Interceptor } from '../../protocol/interceptor.js';
import { isModulePath } from '../../server/option-specs.js';

/*
 * `interceptors` in a config file, LINDEN_INTERCEPTORS or --interceptors: code named by text.
 * `fragmentation` is the built-in; anything else is the path of an ES module (made absolute
 * against the config file's folder or the working directory before it gets here) whose default
 * export is an Interceptor, or a function, maybe async, that returns one.
 */

const HOOKS = ['outbound', 'inbound', 'link', 'announce'] as const;

/** The interceptor `specifier` names; throws an Error saying why there is none. */
export async function loadInterceptor(specifier: string): Promise<Interceptor> {
  if (specifier === FRAGMENTATION) return fragmentation();
  if (!isModulePath(specifier)) {
    throw new Error(`unknown interceptor "${specifier}": "${FRAGMENTATION}" is the built-in; name a module by its path, such as ./my-interceptor.js`);
  }
  let exported: unknown;
  try {
    exported = ((await import(pathToFileURL(specifier).href)) as { default?: unknown }).default;
  } catch (err) {
    throw new Error(`cannot load ${specifier}: ${(err as Error).message}`);
  }
  const interceptor = typeof exported === 'function' ? await (exported as () => unknown)() : exported;
  const problem = notAnInterceptor(interceptor);
  if (problem) throw new Error(`${specifier}: the default export ${typeof exported === 'function' ? 'returned a value that ' : ''}${problem}`);
  return interceptor as Interceptor;
}

function notAnInterceptor(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'is not an interceptor (an object with a name and hooks) nor a function returning one';
  const { name } = value as { name?: unknown };
  if (typeof name !== 'string' || name === '') return 'has no name';
  const bad = HOOKS.find((hook) => (value as Record<string, unknown>)[hook] !== undefined && typeof (value as Record<string, unknown>)[hook] !== 'function');
  return bad ? `has a "${bad}" that is not a function` : undefined;
}
