import type { Command } from 'commander';
import { registerRead } from './space-ops.js';

/** `linden in`: shares its implementation with `rd` in space-ops.ts; only taking differs. */
export function register(program: Command): void {
  registerRead(program, 'in');
}
