// Types of import-graph.mjs, for the test that runs it (test/architecture.test.ts).
export type Edge = { from: string; to: string; imports: number };
export function nodeOf(path: string): string;
export function fileImports(srcDir?: string): Map<string, string[]>;
export function importGraph(srcDir?: string): { edges: Edge[]; cycles: string[][] };
