// No module of src/ reaches itself through its imports, type imports included: a cycle makes load
// order matter (a value read before its module ran is undefined) and two modules that need each
// other are one module split in the wrong place. Relative specifiers are resolved against the file;
// packages are leaves.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const ROOT = new URL('../../', import.meta.url).pathname;
const SOURCE = join(ROOT, 'src');

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const entry of readdirSync(SOURCE, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ts|js)$/.test(entry) || entry.includes('node_modules')) continue;
    const file = join(SOURCE, entry);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    graph.set(file, importedFiles.map((imported) => imported.fileName).filter((specifier) => specifier.startsWith('.')).map((specifier) => resolve(dirname(file), specifier)));
  }
  return graph;
}

/** Every cycle's files, from its first file in the walk back to it (each cycle reported once). */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (file: string): void => {
    if (done.has(file)) return;
    if (onPath.has(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file].map((step) => relative(ROOT, step)));
      return;
    }
    onPath.add(file);
    path.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    path.pop();
    onPath.delete(file);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return cycles;
}

describe('the import graph of src/', () => {
  it('has no cycles', () => {
    expect(findCycles(importGraph())).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([['/a.ts', ['/b.ts']], ['/b.ts', ['/c.ts']], ['/c.ts', ['/a.ts']], ['/d.ts', ['/a.ts']]]);
    expect(findCycles(graph)).toEqual([[relative(ROOT, '/a.ts'), relative(ROOT, '/b.ts'), relative(ROOT, '/c.ts'), relative(ROOT, '/a.ts')]]);
  });
});
