import { specOf, type OptionName } from '../../server/option-specs.js';
import { printJsonLines, toJsonText } from '../common.js';
import { plain } from './names.js';
import type { ResolvedConfig } from './resolve-config.js';
import type { Source } from './sources.js';

/** One option of `linden serve --print-config --json`. */
export interface ConfigRow {
  option: OptionName;
  /** null: none (no default, or cleared by --memory). Secrets are replaced by "[redacted]". */
  value: unknown;
  source: Source;
}

/** The configuration as --print-config shows it, secrets hidden (OPTION_SPECS' `redact`). */
export function configRows(config: ResolvedConfig): ConfigRow[] {
  return [...config].map(([option, given]) => {
    const redact = specOf(option).redact as ((value: unknown) => unknown) | undefined;
    const value = given.value === undefined ? null : redact ? redact(given.value) : given.value;
    return { option, value, source: given.source };
  });
}

/**
 * `--json`: JSON Lines, one object per option. Otherwise a table: option, where its value comes
 * from (`env LINDEN_PORT`, `flag --port`, `file linden.json`, `default`), and the value as JSON.
 */
export function printConfig(config: ResolvedConfig, json: boolean): void {
  const rows = configRows(config);
  if (json) return printJsonLines(rows);
  const wheres = rows.map((r) => (r.source === 'default' ? 'default' : `${r.source} ${config.get(r.option)!.label}`));
  const width = (list: string[]): number => Math.max(...list.map((s) => s.length));
  const [optionWidth, whereWidth] = [width(rows.map((r) => r.option)), width(wheres)];
  const lines = rows.map((r, i) => {
    const value = r.value === null ? `(${plain(specOf(r.option).defaultText ?? 'none')})` : toJsonText(r.value);
    return `${r.option.padEnd(optionWidth)}  ${wheres[i]!.padEnd(whereWidth)}  ${value}`;
  });
  process.stdout.write(`${lines.join('\n')}\n`);
}
