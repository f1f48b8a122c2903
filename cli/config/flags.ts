import { Option, type Command } from 'commander';
import { specOf, type OptionName } from '../../server/option-specs.js';
import { plain, serveDefaultText, SPELLINGS, type Spelling } from './names.js';
import type { RawValue } from './sources.js';

/*
 * One `linden serve` flag per broker option (per part for tls), made from OPTION_SPECS. Commander
 * only collects the text: no defaults and no parsing here, so a flag's value is checked by the
 * same schema as the config file's and the environment's, and --print-config can tell a flag
 * from a default.
 */

export interface FlagValues {
  /** The raw text of each flag given. */
  raws: RawValue[];
  /** The options a clearing flag (--memory) emptied. */
  cleared: Array<{ option: OptionName; flag: string }>;
}

/**
 * Adds the flags to `command`, with help made from each option's description; returns what
 * reads them once commander has parsed the command line.
 */
export function addOptionFlags(command: Command): () => FlagValues {
  const flagOptions = new Map<Spelling, Option>();
  const clearFlags: Array<{ option: OptionName; flag: string; attribute: string }> = [];
  for (const spelling of SPELLINGS) {
    const spec = specOf(spelling.option);
    const schema = spec.configSchema ?? spec.schema;
    const value = schema.type === 'boolean' ? '[true|false]' : `<${spec.valueName ?? placeholder(spelling.option, schema.type)}>`;
    const option = new Option(`${spelling.flag} ${value}`, help(spelling));
    // A list flag may be repeated; each occurrence may itself be a comma-separated list.
    if (schema.type === 'array') option.argParser((text: string, previous: string[] | undefined) => [...(previous ?? []), text]);
    command.addOption(option);
    flagOptions.set(spelling, option);
    if (spec.clearFlag) {
      const clear = new Option(`--${spec.clearFlag.name}`, spec.clearFlag.describe).conflicts(option.attributeName());
      command.addOption(clear);
      clearFlags.push({ option: spelling.option, flag: `--${spec.clearFlag.name}`, attribute: clear.attributeName() });
    }
  }
  return () => {
    const given = command.opts<Record<string, string | string[] | true | undefined>>();
    const raws: RawValue[] = [];
    for (const [spelling, option] of flagOptions) {
      const raw = given[option.attributeName()];
      if (raw !== undefined) raws.push({ spelling, raw });
    }
    return { raws, cleared: clearFlags.filter((c) => given[c.attribute] === true) };
  };
}

function placeholder(option: string, type: unknown): string {
  if (type === 'integer') return /Ms$/.test(option) ? 'ms' : /Bytes$/.test(option) ? 'bytes' : 'n';
  if (type === 'array') return 'list';
  if (type === 'object') return 'json';
  return 'value';
}

function help(spelling: Spelling): string {
  const spec = specOf(spelling.option);
  const first = SPELLINGS.find((s) => s.option === spelling.option)!;
  const what = first === spelling ? plain(spec.describe) : `goes with ${first.flag}`;
  return `${spelling.part ? `${spelling.option}.${spelling.part}: ` : ''}${what} (default: ${serveDefaultText(spelling.option)}; env ${spelling.env})`;
}
