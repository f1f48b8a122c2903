/**
 * Keeps protocol.md in step with the code: the error-code, close-code and frame-type tables must
 * name exactly what protocol/ defines, and every MessagePack example must decode to the message of
 * the JSON example above it.
 */
import { readFileSync } from 'node:fs';
import { Unpackr } from 'msgpackr';
import ts from 'typescript';
import { CLOSE_CODES, ERROR_CODES } from '../protocol/errors.js';
import { clientFrameSchemas, type BrokerFrame } from '../protocol/frames.js';
import { toJsonValue } from '../protocol/json-data.js';
import { FrameValidator } from '../protocol/validate.js';
import { schemaLimits, TYPED_LIMITS, UNITS, type LimitKind } from './helpers/schema-limits.js';

const DOC = readFileSync(new URL('../protocol.md', import.meta.url), 'utf8');
const FRAMES_SOURCE = readFileSync(new URL('../protocol/frames.ts', import.meta.url), 'utf8');

// ---- markdown helpers ----

/** The text under a heading (`## Title` or `## 5. Title`) up to the next heading of the same or a higher level. */
function section(text: string, level: 2 | 3, title: string): string {
  const hashes = '#'.repeat(level);
  const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const heading = new RegExp(`^${hashes} (?:[\\d.]+\\s+)?${escaped}\\s*$`);
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (heading.test(line) ? [i] : []));
  if (starts.length !== 1) throw new Error(`protocol.md needs exactly one heading "${hashes} ${title}", found ${starts.length}`);
  const start = starts[0]! + 1;
  const end = lines.findIndex((line, i) => i >= start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start, end === -1 ? undefined : end).join('\n');
}

/** Body rows of the one table in `text`, as trimmed cells (header and separator rows dropped). */
function tableRows(text: string): string[][] {
  const tables: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('|')) {
      current = undefined;
      continue;
    }
    if (!current) tables.push((current = []));
    const cells = line.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
    current.push(cells);
  }
  if (tables.length !== 1) throw new Error(`expected one table, found ${tables.length}`);
  const [header, separator, ...body] = tables[0]!;
  if (!header || !separator || !separator.every((c) => /^:?-+:?$/.test(c))) throw new Error('malformed table');
  return body;
}

const code = (cell: string | undefined): string => (cell ?? '').replace(/`/g, '').trim();

function duplicates(values: string[]): string[] {
  return values.filter((v, i) => values.indexOf(v) !== i);
}

function diff(documented: string[], actual: string[]): { missingFromDoc: string[]; notInCode: string[] } {
  return {
    missingFromDoc: actual.filter((v) => !documented.includes(v)).sort(),
    notInCode: [...new Set(documented)].filter((v) => !actual.includes(v)).sort(),
  };
}

interface Block { lang: string; body: string; line: number }

function fencedBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end === -1) throw new Error(`unclosed code block at line ${i + 1}`);
    blocks.push({ lang: open[1]!, body: lines.slice(i + 1, end).join('\n'), line: i + 1 });
    i = end;
  }
  return blocks;
}

// ---- what the code defines ----

type Fields = Map<string, boolean>; // field -> required

/** Client message types and their fields, from the JSON schemas the broker validates with. */
function clientFrames(): Map<string, Fields> {
  const out = new Map<string, Fields>();
  for (const [t, schema] of Object.entries(clientFrameSchemas({}))) {
    const { properties, required } = schema as { properties: Record<string, unknown>; required: string[] };
    out.set(t, new Map(Object.keys(properties).filter((f) => f !== 't').map((f) => [f, required.includes(f)])));
  }
  return out;
}

/** Broker message types and their fields, read from the BrokerFrame union in protocol/frames.ts. */
function brokerFrames(): Map<string, Fields> {
  const source = ts.createSourceFile('frames.ts', FRAMES_SOURCE, ts.ScriptTarget.ES2022, true);
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  let union: ts.TypeNode | undefined;
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node)) interfaces.set(node.name.text, node);
    if (ts.isTypeAliasDeclaration(node) && node.name.text === 'BrokerFrame') union = node.type;
  });
  if (!union || !ts.isUnionTypeNode(union)) throw new Error('protocol/frames.ts: BrokerFrame is not a union');
  const out = new Map<string, Fields>();
  for (const member of union.types) {
    if (!ts.isTypeReferenceNode(member)) throw new Error(`BrokerFrame member ${member.getText()} is not a named interface`);
    const decl = interfaces.get(member.typeName.getText());
    if (!decl) throw new Error(`interface ${member.typeName.getText()} not found in protocol/frames.ts`);
    let t: string | undefined;
    const fields: Fields = new Map();
    for (const prop of decl.members) {
      if (!ts.isPropertySignature(prop) || !prop.type) continue;
      const name = prop.name.getText();
      if (name === 't') {
        if (ts.isLiteralTypeNode(prop.type) && ts.isStringLiteral(prop.type.literal)) t = prop.type.literal.text;
        continue;
      }
      fields.set(name, prop.questionToken === undefined);
    }
    if (!t) throw new Error(`interface ${decl.name.text} has no literal type field t`);
    out.set(t, fields);
  }
  return out;
}

// The broker's message types, checked against the BrokerFrame union by the compiler as well.
const BROKER_FRAME_TYPES = [
  'frag', 'welcome', 'pong', 'ok', 'err', 'msg', 'receipt', 'warn', 'lease', 'tuple', 'tuples', 'counted', 'event', 'batched', 'report', 'drain',
] as const satisfies readonly BrokerFrame['t'][];
type Unlisted = Exclude<BrokerFrame['t'], (typeof BROKER_FRAME_TYPES)[number]>;
const everyBrokerTypeListed: [Unlisted] extends [never] ? true : false = true;

/** Rows of a frame table grouped by type: field -> required. */
function documentedFrames(rows: string[][]): Map<string, Fields> {
  const out = new Map<string, Fields>();
  for (const cells of rows) {
    const t = code(cells[0]);
    const field = code(cells[1]);
    const required = (cells[3] ?? '').trim();
    if (required !== 'yes' && required !== 'no') throw new Error(`frame table row ${t}.${field}: Required must be "yes" or "no", not "${required}"`);
    if (!out.has(t)) out.set(t, new Map());
    if (out.get(t)!.has(field)) throw new Error(`frame table lists ${t}.${field} twice`);
    out.get(t)!.set(field, required === 'yes');
  }
  return out;
}

function expectSameFrames(documented: Map<string, Fields>, actual: Map<string, Fields>): void {
  expect(diff([...documented.keys()], [...actual.keys()])).toEqual({ missingFromDoc: [], notInCode: [] });
  for (const [t, fields] of actual) {
    const doc = documented.get(t)!;
    expect({ t, fields: Object.fromEntries([...doc].sort()) }).toEqual({ t, fields: Object.fromEntries([...fields].sort()) });
  }
}

/**
 * The ceilings of the §4.6 table as `<t> <path> <kind> <ceiling> <code>` lines, one per message
 * a row applies to, plus the rows or cells that match no field of any schema.
 */
function documentedLimits(rows: string[][], known: Array<{ t: string; path: string; kind: LimitKind }>): { lines: string[]; unmatched: string[] } {
  const spans = (cell: string | undefined): string[] => [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const lines: string[] = [];
  const unmatched: string[] = [];
  for (const cells of rows) {
    const fields = spans(cells[0]);
    const every = /^every message with the field$/.test((cells[1] ?? '').trim());
    const types = every ? [] : spans(cells[1]);
    const ceiling = /^(\d+)(?:\s+(characters|items|entries)\b)?/.exec((cells[2] ?? '').trim());
    const codeName = spans(cells[3]).find((c) => /^[A-Z_]+$/.test(c));
    if (!ceiling || !codeName) {
      unmatched.push(`row "${cells.join(' | ')}": no ceiling or no error code`);
      continue;
    }
    const kind = (Object.keys(UNITS) as LimitKind[]).find((k) => UNITS[k] === (ceiling[2] ?? ''))!;
    const used = new Set<string>();
    for (const field of fields) {
      const matches = known.filter((k) => k.path === field && k.kind === kind && (every || types.includes(k.t)));
      if (matches.length === 0) unmatched.push(`row of ${field}: no ${kind} of that field in ${every ? 'any message' : types.join(', ')}`);
      for (const k of matches) {
        used.add(k.t);
        lines.push(`${k.t} ${k.path} ${kind} ${ceiling[1]} ${codeName}`);
      }
    }
    for (const t of types) if (!used.has(t)) unmatched.push(`row of ${fields.join(', ')}: names ${t}, which has none of these fields`);
  }
  return { lines: lines.sort(), unmatched };
}

// ---- tests ----

describe('protocol.md', () => {
  test('is versioned', () => {
    expect(DOC).toMatch(/^# Linden protocol v1\b/m);
  });

  test('the error-code table names exactly the codes of ERROR_CODES, with their origin', () => {
    const rows = tableRows(section(DOC, 2, 'Error codes'));
    const codes = rows.map((r) => code(r[0]));
    expect(duplicates(codes)).toEqual([]);
    expect(diff(codes, Object.keys(ERROR_CODES))).toEqual({ missingFromDoc: [], notInCode: [] });
    for (const r of rows) {
      const entry = ERROR_CODES[code(r[0]) as keyof typeof ERROR_CODES];
      expect({ code: code(r[0]), origin: code(r[1]) }).toEqual({ code: code(r[0]), origin: entry.origin });
    }
  });

  test('the close-code table names exactly the codes of CLOSE_CODES, with their names', () => {
    const rows = tableRows(section(DOC, 2, 'Close codes'));
    const numbers = rows.map((r) => code(r[0]));
    expect(duplicates(numbers)).toEqual([]);
    const actual = Object.entries(CLOSE_CODES).map(([name, c]) => ({ code: String(c.code), name }));
    expect(diff(numbers, actual.map((c) => c.code))).toEqual({ missingFromDoc: [], notInCode: [] });
    const documented = rows.map((r) => ({ code: code(r[0]), name: code(r[1]) }));
    const byCode = (a: { code: string }, b: { code: string }): number => Number(a.code) - Number(b.code);
    expect(documented.sort(byCode)).toEqual(actual.sort(byCode));
  });

  test('the client -> broker frame table matches the schemas the broker validates with', () => {
    const frames = section(DOC, 2, 'Frame types');
    expectSameFrames(documentedFrames(tableRows(section(frames, 3, 'Client → broker'))), clientFrames());
  });

  test('the field-limits table (§4.6) names exactly the ceilings of the schemas, and of topics and patterns', () => {
    const { limits } = schemaLimits();
    const typed = TYPED_LIMITS.map((l) => ({ ...l, kind: 'maxLength' as const }));
    const actual = [
      ...limits.map((l) => `${l.t} ${l.path} ${l.kind} ${l.limit} INVALID_FRAME`),
      ...typed.map((l) => `${l.t} ${l.path} ${l.kind} ${l.limit} ${l.code}`),
    ].sort();
    const rows = tableRows(section(section(DOC, 2, 'Handshake'), 3, 'Field limits'));
    const documented = documentedLimits(rows, [...limits, ...typed]);
    expect(documented.unmatched).toEqual([]);
    expect(duplicates(documented.lines)).toEqual([]);
    expect(diff(documented.lines, actual)).toEqual({ missingFromDoc: [], notInCode: [] });
  });

  test('the broker -> client frame table matches BrokerFrame in protocol/frames.ts', () => {
    expect(everyBrokerTypeListed).toBe(true);
    const actual = brokerFrames();
    expect([...actual.keys()].sort()).toEqual([...BROKER_FRAME_TYPES].sort());
    const frames = section(DOC, 2, 'Frame types');
    expectSameFrames(documentedFrames(tableRows(section(frames, 3, 'Broker → client'))), actual);
  });

  describe('examples', () => {
    const unpackr = new Unpackr({ useRecords: false });
    const blocks = fencedBlocks(DOC);
    const pairs = blocks.flatMap((block, i) => (block.lang === 'hex' ? [{ json: blocks[i - 1], hex: block }] : []));

    /** A decoded MessagePack message as its JSON twin: `data` is a bin holding the payload's own encoding. */
    function asJson(decoded: unknown, where: string): unknown {
      if (Array.isArray(decoded)) return decoded.map((m) => asJson(m, where));
      if (typeof decoded !== 'object' || decoded === null) throw new Error(`${where}: not a message`);
      const out: Record<string, unknown> = {};
      const isFrag = (decoded as { t?: unknown }).t === 'frag';
      for (const [key, value] of Object.entries(decoded)) {
        if (key === 'data' && isFrag) {
          // A one-fragment example: its bin is a whole message, its JSON twin that message's JSON text.
          if (!(value instanceof Uint8Array)) throw new Error(`${where}: MessagePack "data" must be bin`);
          out.data = JSON.stringify(asJson(unpackr.unpack(value), where));
          out.size = Buffer.byteLength(out.data as string);
        } else if (key === 'size' && isFrag) {
          continue;
        } else if (key === 'will') {
          // hello.will carries a payload as pub does: its `data` is a bin too.
          out[key] = asJson(value, where);
        } else if (key === 'data') {
          if (!(value instanceof Uint8Array)) throw new Error(`${where}: MessagePack "data" must be bin`);
          out[key] = toJsonValue(unpackr.unpack(value));
        } else {
          out[key] = toJsonValue(value);
        }
      }
      return out;
    }

    const messagesOf = (value: unknown): Record<string, unknown>[] =>
      (Array.isArray(value) ? value : [value]) as Record<string, unknown>[];

    test('every MessagePack (hex) example follows its JSON example', () => {
      expect(pairs.length).toBeGreaterThanOrEqual(20);
      for (const { json, hex } of pairs) {
        expect({ line: hex.line, precededBy: json?.lang }).toEqual({ line: hex.line, precededBy: 'json' });
        expect({ line: hex.line, hex: /^(?:[0-9a-f]{2}[ \n]?)+$/.test(hex.body.trim()) }).toEqual({ line: hex.line, hex: true });
      }
    });

    test('each MessagePack example decodes to the same message as its JSON example', () => {
      for (const { json, hex } of pairs) {
        const expected = JSON.parse(json!.body) as unknown;
        const decoded = unpackr.unpack(Buffer.from(hex.body.replace(/\s+/g, ''), 'hex')) as unknown;
        expect({ line: hex.line, message: asJson(decoded, `line ${hex.line}`) }).toEqual({ line: hex.line, message: expected });
      }
    });

    test('every frame type has an example in both codecs', () => {
      const shown = new Set(pairs.flatMap(({ json }) => messagesOf(JSON.parse(json!.body)).map((m) => String(m.t))));
      const all = [...Object.keys(clientFrameSchemas({})), ...BROKER_FRAME_TYPES];
      expect(all.filter((t) => !shown.has(t))).toEqual([]);
    });

    test('client examples pass the broker validation in both codecs', () => {
      const clientTypes = Object.keys(clientFrameSchemas({}));
      const json = new FrameValidator('json');
      const msgpack = new FrameValidator('msgpack');
      for (const pair of pairs) {
        const fromJson = messagesOf(JSON.parse(pair.json!.body));
        const fromHex = messagesOf(unpackr.unpack(Buffer.from(pair.hex.body.replace(/\s+/g, ''), 'hex')));
        fromJson.forEach((m, i) => {
          if (!clientTypes.includes(String(m.t))) return;
          expect(() => json.check(m)).not.toThrow();
          expect(() => msgpack.check(fromHex[i])).not.toThrow();
        });
      }
    });

    test('the sample session is well formed: valid client messages, broker frames as arrays', () => {
      const session = fencedBlocks(section(DOC, 2, 'Sample session')).filter((b) => b.lang === 'text');
      expect(session).toHaveLength(1);
      const validator = new FrameValidator('json');
      const lines = session[0]!.body.split('\n').filter((l) => l.trim());
      expect(lines.length).toBeGreaterThan(10);
      for (const line of lines) {
        const match = /^\S+\s+([<>])\s+(.+)$/.exec(line);
        expect({ line, parsed: match !== null }).toEqual({ line, parsed: true });
        const frame = JSON.parse(match![2]!) as unknown;
        if (match![1] === '>') {
          for (const m of messagesOf(frame)) expect(() => validator.check(m)).not.toThrow();
        } else {
          expect(Array.isArray(frame)).toBe(true);
          for (const m of messagesOf(frame)) expect(BROKER_FRAME_TYPES).toContain(m.t);
        }
      }
    });
  });
});
