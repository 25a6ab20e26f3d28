#!/usr/bin/env node
// The folder-level import graph of src/: which folder imports which, and any cycle between them.
// `node scripts/import-graph.mjs` prints the edges and exits 1 if there is a cycle; the test suite
// (test/architecture.test.ts) calls importGraph() so that a new cycle fails CI.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;

/** A file's node in the graph (from its path under src/): its top-level folder, or the file itself at the root. */
export function nodeOf(path) {
  const parts = path.split(sep);
  return parts.length === 1 ? parts[0].replace(/\.ts$/, "") : parts[0];
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

/** Each .ts file under `srcDir` (relative to it) with the files it imports (likewise relative). */
export function fileImports(srcDir = SRC) {
  const imports = new Map();
  for (const file of sourceFiles(srcDir)) {
    const targets = [];
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (specifier.startsWith(".")) targets.push(relative(srcDir, resolve(dirname(file), specifier).replace(/\.js$/, ".ts")));
    }
    imports.set(relative(srcDir, file), targets);
  }
  return imports;
}

/** Every relative import of every .ts file under `srcDir`, as folder → folder edges with counts. */
export function importGraph(srcDir = SRC) {
  const edges = new Map();
  for (const [file, targets] of fileImports(srcDir)) {
    const from = nodeOf(file);
    for (const target of targets) {
      const to = nodeOf(target);
      if (to === from) continue;
      const key = `${from} -> ${to}`;
      edges.set(key, (edges.get(key) ?? 0) + 1);
    }
  }
  const sorted = [...edges].sort(([a], [b]) => a.localeCompare(b)).map(([edge, imports]) => {
    const [from, to] = edge.split(" -> ");
    return { from, to, imports };
  });
  return { edges: sorted, cycles: cyclesOf(sorted) };
}

/** The strongly connected components of more than one node (Tarjan): each one holds a cycle. */
function cyclesOf(edges) {
  const next = new Map();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    if (!next.has(to)) next.set(to, []);
    next.get(from).push(to);
  }
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (node) => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node)) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node), low.get(target)));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node), index.get(target)));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);
  return components;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { edges, cycles } = importGraph();
  for (const { from, to, imports } of edges) console.log(`${from} -> ${to} (${imports})`);
  console.log(`${edges.length} edges between folders`);
  if (cycles.length === 0) console.log("no cycle");
  for (const cycle of cycles) console.log(`cycle: ${cycle.join(", ")}`);
  process.exitCode = cycles.length === 0 ? 0 : 1;
}
