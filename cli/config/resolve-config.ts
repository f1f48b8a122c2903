import { Ajv, type ValidateFunction } from 'ajv';
import type { BrokerOptions } from '../../server/index.js';
import { OPTION_NAMES, optionsSchema, specOf, type OptionName } from '../../server/option-specs.js';
import { optionProblems, problemText, type OptionProblem } from '../../server/options.js';
import { CliError, EXIT } from '../common.js';
import { loadInterceptor } from './interceptor-modules.js';
import { closest } from './names.js';
import type { FlagValues } from './flags.js';
import { readConfigFile, readEnv, readFlags, type Given, type Layer } from './sources.js';

/*
 * Sources merged, option by option, in the order flags > environment > config file > defaults:
 * an option takes its whole value from the first place that gives it (an `auth` from the
 * environment replaces the file's; lists are not joined). Then the merged values pass the one
 * schema, and each problem is told with where the bad value came from.
 */

/** Every option with the value that counts and where it came from; a value of undefined means none. */
export type ResolvedConfig = ReadonlyMap<OptionName, Given>;

// Compiled on first use: every CLI command loads this module, only `serve` needs the schema.
let checkConfig: ValidateFunction | undefined;

/** What `linden serve` reads its configuration from. */
export interface Sources {
  /** --config (or LINDEN_CONFIG), as given. */
  configFile?: string;
  env: NodeJS.ProcessEnv;
  flags: FlagValues;
  /** LINDEN_* names other commands read (LINDEN_URL...): neither options nor typos of them. */
  otherEnv: ReadonlySet<string>;
  cwd: string;
}

/** The configuration from all sources, and warnings about LINDEN_* names that are no option. */
export function configFrom(sources: Sources): { config: ResolvedConfig; warnings: string[] } {
  const { configFile, cwd } = sources;
  const env = readEnv(sources.env, cwd, sources.otherEnv);
  const file = configFile === undefined ? [] : [readConfigFile(configFile, cwd)];
  return { config: resolveConfig([...file, env, readFlags(sources.flags.raws, sources.flags.cleared, cwd)], cwd), warnings: env.warnings };
}

/** Merges `layers` (weakest first) over the defaults; throws one usage error naming every problem and its source. */
export function resolveConfig(layers: readonly Layer[], cwd: string): ResolvedConfig {
  const merged = new Map<string, Given>(OPTION_NAMES.map((name) => {
    const spec = specOf(name);
    return [name, { value: spec.serveDefault ?? spec.default, source: 'default', label: 'default', base: cwd }];
  }));
  for (const layer of layers) for (const [name, given] of layer.given) merged.set(name, given);
  const values = Object.fromEntries([...merged].filter(([, g]) => g.value !== undefined).map(([name, g]) => [name, g.value]));
  const problems = [
    ...layers.flatMap((l) => l.problems),
    ...optionProblems(values, checkConfig ??= new Ajv({ allErrors: true }).compile(optionsSchema('config'))).map((p) => told(p, merged.get(p.option))),
  ];
  if (problems.length > 0) throw new CliError(problems.join('; '), EXIT.USAGE);
  for (const [name, given] of merged) {
    const paths = specOf(name as OptionName).paths as ((value: unknown, base: string) => unknown) | undefined;
    if (paths && given.value !== undefined) merged.set(name, { ...given, value: paths(given.value, given.base) });
  }
  return merged as ResolvedConfig;
}

/** The options for startBroker(): the values, with interceptor names and module paths loaded. */
export async function brokerOptions(config: ResolvedConfig): Promise<BrokerOptions> {
  const options: Record<string, unknown> = {};
  for (const [name, given] of config) if (given.value !== undefined) options[name] = given.value;
  const names = config.get('interceptors')!;
  if (Array.isArray(names.value)) {
    options.interceptors = await Promise.all(names.value.map(async (specifier: string, i) => {
      try {
        return await loadInterceptor(specifier);
      } catch (err) {
        throw new CliError(told({ option: 'interceptors', path: `interceptors[${i}]`, message: (err as Error).message }, names), EXIT.USAGE);
      }
    }));
  }
  return options as BrokerOptions;
}

/**
 * A problem as the user can find it: `linden.json: auth.users[0].user: ...` in a file,
 * `LINDEN_MAX_FRAME_BYTES: must be >= 16384` and `--allowed-origin[1]: ...` from variables and
 * flags, which name the option themselves.
 */
export function told(p: OptionProblem, given: Given | undefined): string {
  if (given === undefined || given.source === 'file' || given.source === 'default') {
    const near = p.path === '' ? closest(p.option, OPTION_NAMES) : undefined;
    return `${given?.label ?? 'default'}: ${problemText(p)}${near ? ` (did you mean ${near}?)` : ''}`;
  }
  let label = given.label;
  let rest = p.path.slice(p.option.length);
  const part = /^\.([^.[]+)/.exec(rest);
  if (part && given.partLabels?.[part[1]!] !== undefined) {
    label = given.partLabels[part[1]!]!;
    rest = rest.slice(part[0].length);
  }
  const where = rest === '' ? label : rest.startsWith('[') ? `${label}${rest}` : `${label}: ${rest.slice(1)}`;
  return `${where}: ${p.message}`;
}
