// String helpers more than one part of the broker needs.

/** Orders strings by UTF-16 code units, as `<` does: the same order on every node and in every view. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The same characters, holding nothing else (a string decoded from a frame may keep the whole frame's text alive). */
export function ownCopy(s: string): string {
  return (' ' + s).slice(1);
}
