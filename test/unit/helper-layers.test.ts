import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HELPER_DIR } from '../../harness/helper/build.js';
import { circles } from './graph.js';

/**
 * The native helper is a stack of units (docs/DESIGN.md, "The native helper"): protocol.c at the
 * bottom, depending on nothing of the helper's own; above it units with one job each; helper.c
 * (main and the command loop) on top. No two units may depend on each other, however indirectly.
 * Checked twice: by the `#include "…"` lines, and by what the compiler really links — each .c is
 * compiled to an object, and a symbol one object uses and another defines is a dependency (nm).
 */

/** A unit is a .c and its .h: the name without the extension. */
const unitOf = (file: string) => basename(file).replace(/\.[ch]$/, '');

/** The helper's own headers a source includes (`#include "x.h"`; system headers use <>). */
export function includesOf(source: string): string[] {
  return [...source.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

/** Dependencies between units from the include lines: unit → the units whose headers it includes. */
export function includeGraph(files: Record<string, string>): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [file, src] of Object.entries(files)) {
    const u = unitOf(file);
    const deps = includesOf(src).map(unitOf).filter((d) => d !== u);
    g.set(u, [...new Set([...(g.get(u) ?? []), ...deps])].sort());
  }
  return g;
}

/** nm's view of one object: the global symbols it defines and those it needs from elsewhere. */
export interface Symbols {
  defined: string[];
  undefined: string[];
}

/** Parse `nm` output (lines "[address] TYPE name"): U = needed, any other global type = defined. */
export function parseNm(out: string): Symbols {
  const s: Symbols = { defined: [], undefined: [] };
  for (const line of out.split('\n')) {
    const m = /^\s*(?:[0-9a-f]+\s+)?([A-Za-z])\s+(\S+)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'U') s.undefined.push(m[2]!);
    else if (m[1] === m[1]!.toUpperCase()) s.defined.push(m[2]!);
  }
  return s;
}

/** Dependencies between units from their objects: A → B when A uses a symbol B defines (libc's are nobody's). */
export function symbolGraph(objects: Record<string, Symbols>): Map<string, string[]> {
  const owner = new Map<string, string>();
  for (const [u, s] of Object.entries(objects)) for (const sym of s.defined) owner.set(sym, u);
  return new Map(
    Object.entries(objects).map(([u, s]) => [u, [...new Set(s.undefined.map((sym) => owner.get(sym)).filter((d): d is string => !!d && d !== u))].sort()]),
  );
}

/** Function names a header declares (prototypes at the start of a line, not macros or comments). */
export function declaredFunctions(header: string): string[] {
  const code = header.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return [...code.matchAll(/^(?!\s*#)[A-Za-z_][\w\s*]*?\b([A-Za-z_]\w*)\s*\([^;{]*\)[^;{]*;/gm)].map((m) => m[1]!);
}

const tool = (name: string) => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0;

describe('the native helper has no dependency circle', () => {
  const names = readdirSync(HELPER_DIR).filter((f) => /\.[ch]$/.test(f));
  const sources = Object.fromEntries(names.map((f) => [f, readFileSync(join(HELPER_DIR, f), 'utf8')]));
  const tmp = mkdtempSync(join(tmpdir(), 'deadpeer-helper-layers-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('the include lines form no circle, and protocol.h/protocol.c include no header of the helper but protocol.h', () => {
    const g = includeGraph(sources);
    expect(g.has('protocol')).toBe(true);
    expect(g.get('protocol')).toEqual([]);
    expect(circles(g)).toEqual([]);
  });

  // cc is what builds the helper at all (harness/helper/build.ts); missing, this fails instead of passing unchecked
  const objects: Record<string, Symbols> = {};
  const compile = () => {
    if (Object.keys(objects).length) return objects;
    expect(tool('cc'), 'cc is missing: the helper cannot be built or checked — apt-get install -y gcc').toBe(true);
    expect(tool('nm'), 'nm is missing — apt-get install -y binutils').toBe(true);
    for (const f of names.filter((n) => n.endsWith('.c'))) {
      const obj = join(tmp, `${unitOf(f)}.o`);
      const cc = spawnSync('cc', ['-c', '-std=gnu11', '-O0', '-o', obj, join(HELPER_DIR, f)], { encoding: 'utf8' });
      expect(cc.status, `cc -c ${f}: ${cc.stderr.split('\n')[0]}`).toBe(0);
      const nm = spawnSync('nm', ['-g', obj], { encoding: 'utf8' });
      expect(nm.status, `nm ${obj}`).toBe(0);
      objects[unitOf(f)] = parseNm(nm.stdout);
    }
    return objects;
  };

  it('what the objects link against forms no circle, and protocol.o needs no other unit', { timeout: 60_000 }, () => {
    const g = symbolGraph(compile());
    expect(circles(g)).toEqual([]);
    expect(g.get('protocol')).toEqual([]);
    // not vacuous: the units do use each other — every unit that answers commands stands on protocol
    const users = [...g].filter(([, deps]) => deps.includes('protocol')).map(([u]) => u);
    expect(users.length).toBeGreaterThanOrEqual(5);
    expect(g.get('helper')!.length).toBeGreaterThanOrEqual(5);
  });

  it('each header declares only what its own unit defines', { timeout: 60_000 }, () => {
    const objs = compile();
    const strays = names
      .filter((n) => n.endsWith('.h'))
      .flatMap((h) => declaredFunctions(sources[h]!).filter((fn) => !objs[unitOf(h)]?.defined.includes(fn)).map((fn) => `${h}: ${fn}`));
    expect(strays).toEqual([]);
  });

  it('the checks can fail: two units that use each other are a circle, a header declaring another unit’s function is found', () => {
    const g = symbolGraph({
      helper: parseNm('0000000000000010 T main\n                 U cmd_veth\n                 U printf'),
      plumbing: parseNm('0000000000000000 T cmd_veth\n                 U reply_begin'),
      protocol: parseNm('0000000000000000 T reply_begin\n0000000000000000 b out'),
    });
    expect(g.get('helper')).toEqual(['plumbing']);
    expect(circles(g)).toEqual([]);
    g.set('protocol', ['helper']);
    expect(circles(g)).toEqual([['helper', 'plumbing', 'protocol']]);
    expect(includeGraph({ 'a.c': '#include "b.h"\n#include <stdio.h>', 'b.h': '#include "a.h"' }).get('a')).toEqual(['b']);
    expect(circles(includeGraph({ 'a.c': '#include "b.h"', 'b.c': '#include "a.h"' }))).toEqual([['a', 'b']]);
    expect(declaredFunctions('/* x(y); */\n#define F(x) (x)\nstruct s { int a; };\nvoid fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));\nint need_num(struct cmd *c,\n  const char *k);\nextern int n;')).toEqual(['fail', 'need_num']);
  });
});
