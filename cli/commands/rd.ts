import type { Command } from 'commander';
import { registerRead } from './space-ops.js';

/** `linden rd`: shares its implementation with `in` in space-ops.ts; only taking differs. */
export function register(program: Command): void {
  registerRead(program, 'rd');
}
