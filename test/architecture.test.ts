import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fileImports, importGraph, nodeOf } from "../scripts/import-graph.mjs";

/**
 * The folders of src/ from the top down (README, "Architecture"). A folder may import folders of
 * its own layer or below, never above; a cycle is refused even within a layer.
 */
const LAYERS: string[][] = [
  ["cli", "server"],
  ["app"],
  ["routes", "dashboard"],
  ["http", "workers", "idempotency"],
  ["use-cases"],
  ["auth", "metrics", "transports", "rate-limit"],
  ["api-keys", "audit", "customers", "instances", "messages", "webhook-deliveries", "webhook-endpoints"],
  ["db", "errors", "crypto", "ids", "time", "format", "net", "collections"],
  ["contract", "config"],
];

function layerOf(folder: string): number {
  const index = LAYERS.findIndex((layer) => layer.includes(folder));
  if (index < 0) throw new Error(`src/${folder} is in no layer of test/architecture.test.ts: place it`);
  return index;
}

const SRC = new URL("../src/", import.meta.url).pathname;
const graph = importGraph();
const imports = fileImports();

describe("the folders of src/", () => {
  it("import each other without a cycle", () => {
    expect(graph.edges.length).toBeGreaterThan(50);
    expect(graph.cycles).toEqual([]);
  });

  it("each belong to one layer, and import only their own layer or those below", () => {
    const upward = graph.edges
      .filter(({ from, to }) => layerOf(to) < layerOf(from))
      .map(({ from, to }) => `${from} -> ${to}`);
    expect(upward).toEqual([]);
  });

  it("the browser's dashboard imports, of src/, only the shared formatting (the API through the client package)", () => {
    const reached = graph.edges.filter(({ from }) => from === "dashboard").map(({ to }) => to);
    expect(reached).toEqual(["format"]);
    expect(packageImporters("dashboard/").length).toBeGreaterThan(3);
  });

  it("formatting imports nothing", () => {
    expect(graph.edges.filter(({ from }) => from === "format")).toEqual([]);
  });

  it("the CLI's API commands speak HTTP only: the client, formatting and the signature check, never the server", () => {
    // The operator's commands work on the database or run the server, on purpose.
    const operatorCommands = ["cli/main.ts", "cli/migrate.ts", "cli/operator-writes.ts", "cli/customers-create.ts", "cli/customers-add-key.ts"];
    const allowed = new Set(["cli", "format", "crypto"]);
    const offending = [...imports]
      .filter(([file]) => file.startsWith("cli/") && !operatorCommands.includes(file))
      .flatMap(([file, targets]) => targets.filter((target) => !allowed.has(nodeOf(target))).map((target) => `${file} -> ${target}`));
    expect(offending).toEqual([]);
    expect([...imports.keys()].filter((file) => file.startsWith("cli/")).length).toBeGreaterThan(operatorCommands.length);
    expect(packageImporters("cli/").length).toBeGreaterThan(1);
  });
});

describe("the client package (packages/client)", () => {
  it("imports only its own files and openapi-fetch: it installs without the server", () => {
    const dir = new URL("../packages/client/src/", import.meta.url).pathname;
    const outside = [...fileImports(dir)].flatMap(([file, targets]) =>
      targets.filter((target) => target.startsWith("..")).map((target) => `${file} -> ${target}`),
    );
    expect(outside).toEqual([]);
    const bare = [...fileImports(dir).keys()].flatMap((file) =>
      // Statements only: the generated types quote the API's examples, `"from": null` among them.
      [...readFileSync(join(dir, file), "utf8").matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*"([^".][^"]*)"/gm)].map((match) => match[1]),
    );
    expect(new Set(bare)).toEqual(new Set(["openapi-fetch"]));
  });
});

/** The files under src/`prefix` that import the client package by its name. */
function packageImporters(prefix: string): string[] {
  return [...imports.keys()].filter((file) => file.startsWith(prefix) && readFileSync(join(SRC, file), "utf8").includes('from "@whatisup/client"'));
}

describe("one path for every write", () => {
  it("sets revoked_at in one statement only, the API-keys repository's markRevoked", () => {
    const setters = [...imports.keys()].flatMap((file) =>
      readFileSync(join(SRC, file), "utf8")
        .split("\n")
        .flatMap((line, index) => (/\.set\(\{[^}]*\brevoked_at\b/.test(line) ? [`${file}:${index + 1}`] : [])),
    );
    expect(setters).toHaveLength(1);
    expect(setters[0]).toMatch(/^api-keys\/api-key-repository\.ts:/);
  });
});

describe("the import graph script", () => {
  const scratch = mkdtempSync(join(tmpdir(), "import-graph-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("finds a cycle between folders and the edges that make it", () => {
    for (const [folder, file, body] of [
      ["a", "one.ts", 'import { two } from "../b/two.js";\nexport const one = two;\n'],
      ["b", "two.ts", 'export { one as two } from "../a/one.js";\n'],
      ["c", "three.ts", 'import "../a/one.js";\n'],
    ] as const) {
      mkdirSync(join(scratch, folder), { recursive: true });
      writeFileSync(join(scratch, folder, file), body);
    }
    const found = importGraph(scratch);
    expect(found.edges).toEqual([
      { from: "a", to: "b", imports: 1 },
      { from: "b", to: "a", imports: 1 },
      { from: "c", to: "a", imports: 1 },
    ]);
    expect(found.cycles).toEqual([["a", "b"]]);
  });
});
