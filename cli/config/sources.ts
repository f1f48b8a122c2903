import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { specOf, type OptionName } from '../../server/option-specs.js';
import { CliError, EXIT } from '../common.js';
import { closest, ENV_PREFIX, SPELLINGS, type Spelling } from './names.js';

/*
 * The three places `linden serve` reads broker options from, each read into a Layer of the same
 * shape: a config file (JSON, the names and shape of startBroker()), LINDEN_* environment
 * variables and flags. Text from the environment and flags becomes the type the option's schema
 * names; whether the value is right is left to the one schema (resolve-config.ts).
 */

export type Source = 'default' | 'file' | 'env' | 'flag';

/** An option's value as one source gives it. */
export interface Given {
  /** undefined: cleared (`--memory`). */
  value: unknown;
  source: Source;
  /** Where, as the user wrote it: `--max-frame-bytes`, `LINDEN_MAX_FRAME_BYTES`, the config file's path, `default`. */
  label: string;
  /** An option given in parts (tls): the label of each part. */
  partLabels?: Record<string, string>;
  /** The folder relative paths in the value are relative to: the config file's, or the working directory. */
  base: string;
}

/** What one source gives, by option name (a config file may name unknown ones), and what it got wrong before any schema. */
export interface Layer {
  given: Map<string, Given>;
  problems: string[];
}

/** Raw text for one spelling: a string, several (a repeated flag), or `true` (a flag given without a value). */
export interface RawValue {
  spelling: Spelling;
  raw: string | string[] | true;
}

/** `--config <file>`: an unreadable file, bad JSON or anything but an object is a usage error of its own. */
export function readConfigFile(path: string, cwd: string): Layer {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${path} is not JSON: ${(err as Error).message}`, EXIT.USAGE);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError(`${path} must hold a JSON object of broker options`, EXIT.USAGE);
  const base = dirname(resolve(cwd, path));
  return {
    given: new Map(Object.entries(value).map(([name, v]) => [name, { value: v, source: 'file', label: path, base }])),
    problems: [],
  };
}

const BY_ENV = new Map(SPELLINGS.map((s) => [s.env, s]));

/**
 * LINDEN_* variables. An empty one counts as unset. `ignore` holds the names other commands
 * read (LINDEN_URL...); any other unknown LINDEN_* name gets a warning, with the option it is
 * probably a typo of.
 */
export function readEnv(env: NodeJS.ProcessEnv, cwd: string, ignore: ReadonlySet<string>): Layer & { warnings: string[] } {
  const raws: RawValue[] = [];
  const warnings: string[] = [];
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || text === undefined || text === '' || ignore.has(name)) continue;
    const spelling = BY_ENV.get(name);
    if (spelling) {
      raws.push({ spelling, raw: text });
      continue;
    }
    const near = closest(name, BY_ENV.keys());
    warnings.push(`warning: ${name} is not a broker option and is ignored${near ? ` (did you mean ${near}?)` : ''}`);
  }
  return { ...fromText(raws, 'env', cwd), warnings };
}

/** Flags as commander parsed them. */
export function readFlags(raws: RawValue[], cleared: readonly { option: OptionName; flag: string }[], cwd: string): Layer {
  const layer = fromText(raws, 'flag', cwd);
  for (const { option, flag } of cleared) layer.given.set(option, { value: undefined, source: 'flag', label: flag, base: cwd });
  return layer;
}

/** Text from the environment or flags as values of the types the options' schemas name. */
function fromText(raws: RawValue[], source: 'env' | 'flag', base: string): Layer {
  const layer: Layer = { given: new Map(), problems: [] };
  const label = (s: Spelling): string => (source === 'env' ? s.env : s.flag);
  const byOption = new Map<OptionName, RawValue[]>();
  for (const r of raws) byOption.set(r.spelling.option, [...(byOption.get(r.spelling.option) ?? []), r]);
  for (const [option, given] of byOption) {
    const spec = specOf(option);
    if (spec.parts) {
      // All parts from one source or none: a certificate from one place and its key from another is a mistake.
      const spellings = SPELLINGS.filter((s) => s.option === option);
      const missing = spellings.filter((s) => !given.some((g) => g.spelling === s));
      if (missing.length > 0) {
        layer.problems.push(`${spellings.map(label).join(' and ')} go together: ${missing.map(label).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
        continue;
      }
      layer.given.set(option, {
        value: Object.fromEntries(given.map((g) => [g.spelling.part, String(g.raw)])),
        source,
        label: spellings.map(label).join(' and '),
        partLabels: Object.fromEntries(given.map((g) => [g.spelling.part, label(g.spelling)])),
        base,
      });
      continue;
    }
    const { spelling, raw } = given[0]!;
    try {
      const schema = spec.configSchema ?? spec.schema;
      const value = raw === true ? true : Array.isArray(raw) ? raw.flatMap((text) => typed(schema, text) as unknown[]) : typed(schema, raw);
      layer.given.set(option, { value, source, label: label(spelling), base });
    } catch (err) {
      layer.problems.push(`${label(spelling)}: ${(err as Error).message}`);
    }
  }
  return layer;
}

/**
 * `text` as the type `schema` names, where it reads as one: an integer, true/false, a list
 * (comma-separated, or a JSON array), an object (JSON). Text that does not read as the type stays
 * text, so the schema says what is wrong with it, as it does for a config file.
 */
function typed(schema: Record<string, unknown>, text: string): unknown {
  switch (schema.type) {
    case 'integer':
      return /^\s*-?\d+\s*$/.test(text) ? Number(text) : text;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'array':
      return text.trim().startsWith('[') ? json(text) : text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'object':
      return json(text);
    default:
      return text;
  }
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`is not JSON: ${(err as Error).message}`);
  }
}
