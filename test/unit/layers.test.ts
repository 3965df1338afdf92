import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';
import { circles } from './graph.js';

/**
 * The layout is the architecture (docs/DESIGN.md, "Layout"): harness/ is a stack of rooms, and a
 * file may import only from its own room or the rooms below it. That keeps the engine free of the
 * report, the judge free of the engine's live state, and vitest out of everything a CLI user
 * loads. No file may take part in an import circle anywhere in the code (harness/, netns/, cli/).
 * This test is how that is checked: `npx vitest run test/unit/layers.test.ts`.
 */
export const ROOMS = ['model', 'core', 'netns', 'helper', 'engine', 'judge', 'recipes', 'report', 'suite', 'apps', 'vitest', 'api'] as const;
type Room = (typeof ROOMS)[number];

const CODE_DIRS = ['harness', 'netns', 'cli'];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(rel);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Relative imports of a file (value and type imports alike: a type circle is still a circle in the design). */
export function importsOf(file: string, source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)|(?:^|\n)\s*import\s*'(\.{1,2}\/[^']+)'/g;
  for (const m of source.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The room of a file under harness/ (harness/index.ts and harness/vitest's entry points are the API). */
export function roomOf(file: string): Room | undefined {
  if (file.startsWith('netns/')) return 'netns';
  const m = /^harness\/([^/]+)\//.exec(file);
  if (!m) return file.startsWith('harness/') ? 'api' : undefined;
  return (ROOMS as readonly string[]).includes(m[1]!) ? (m[1] as Room) : undefined;
}

/** Every import that goes up the stack: [importer, imported]. */
export function upwardImports(graph: Map<string, string[]>): Array<[string, string]> {
  const bad: Array<[string, string]> = [];
  for (const [from, tos] of graph) {
    const a = roomOf(from);
    if (a === undefined || a === 'api') continue;
    for (const to of tos) {
      const b = roomOf(to);
      if (b !== undefined && ROOMS.indexOf(b) > ROOMS.indexOf(a)) bad.push([from, to]);
    }
  }
  return bad;
}

const graph = new Map(CODE_DIRS.flatMap(tsFiles).map((f) => [f, importsOf(f, readFileSync(join(ROOT, f), 'utf8'))]));

describe('the layout', () => {
  it('every file under harness/ is in a known room', () => {
    const homeless = [...graph.keys()].filter((f) => f.startsWith('harness/') && roomOf(f) === undefined);
    expect(homeless).toEqual([]);
  });

  it(`each room imports only from itself and the rooms below it (${ROOMS.join(' < ')})`, () => {
    expect(upwardImports(graph).map(([a, b]) => `${a} → ${b}`)).toEqual([]);
  });

  it('no import circle between files in harness/, netns/ or cli/', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('the checks can fail: a circle and an upward import are found', () => {
    const g = new Map([
      ['harness/engine/a.ts', ['harness/report/b.ts']],
      ['harness/report/b.ts', ['harness/engine/a.ts']],
    ]);
    expect(circles(g)).toEqual([['harness/engine/a.ts', 'harness/report/b.ts']]);
    expect(upwardImports(g)).toEqual([['harness/engine/a.ts', 'harness/report/b.ts']]);
  });

  it('reads import and export-from statements, type-only ones too', () => {
    const src = [
      ['import { a }', "'./x.js';"],
      ['import type { B }', "'../core/y.js';"],
      ['export { c }', "'./z.js';"],
    ]
      .map(([what, spec]) => `${what} from ${spec}`)
      .concat(["const d = await import('./w.js');", "import 'vitest';", "import './v.js';"])
      .join('\n');
    expect(importsOf('harness/engine/f.ts', src)).toEqual(['harness/engine/x.ts', 'harness/core/y.ts', 'harness/engine/z.ts', 'harness/engine/w.ts', 'harness/engine/v.ts']);
  });
});
