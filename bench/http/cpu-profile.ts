/**
 * Where the server's time goes, from the V8 CPU profile that `node --cpu-prof` writes: shares of
 * busy time by category and the functions with the most self time, as markdown for BENCHMARKS.md.
 * Node writes the profile only when the process exits by itself (the server does on SIGTERM or
 * SIGINT, not on SIGKILL), one file per thread: the main thread's is `CPU.*.<pid>.0.*.cpuprofile`.
 */
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };

/**
 * Instants on the clock of the profile's timestamps, which is CLOCK_MONOTONIC in microseconds: the
 * clock of `process.hrtime` in every process of the machine, so another process can say when.
 */
export type SampleWindow = { fromMicros: number; toMicros: number };

/** Now, on the clock of profiles' timestamps. */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

export type ProfileSummary = {
  /** Sampled time that was not idle, in microseconds: what every share below is a share of. */
  busyMicros: number;
  idleMicros: number;
  samples: number;
  /** Largest first; idle is not among them. */
  categories: Array<{ category: string; micros: number; share: number }>;
  /** By self time, largest first; V8's pseudo-frames (GC, program, idle) are left to the categories. */
  functions: Array<{ name: string; where: string; micros: number; share: number }>;
};

/**
 * A frame as the rules see it: `path` is relative to the repository, `file` to its package;
 * `loadingModules` when Node's module loader is on its stack.
 */
type Site = { name: string; url: string; path?: string; packageName?: string; file?: string; loadingModules?: boolean };

const FASTIFY = new Set([
  "fastify", "find-my-way", "avvio", "fast-json-stringify", "light-my-request", "fastify-plugin",
  // What those depend on at run time: routing, hooks, and the request validation and response
  // serialization they compile with ajv.
  "fast-querystring", "fast-decode-uri-component", "safe-regex2", "ret", "toad-cache", "fastq", "reusify",
  "abstract-logging", "process-warning", "rfdc", "secure-json-parse", "semver", "ajv", "ajv-formats",
  "fast-uri", "fast-deep-equal", "json-schema-traverse", "json-schema-ref-resolver",
]);
const PINO = new Set(["pino", "pino-std-serializers", "fast-redact", "sonic-boom", "thread-stream", "quick-format-unescaped", "safe-stable-stringify", "atomic-sleep", "on-exit-leak-free"]);
const POSTGRES = new Set(["pg", "pg-pool", "pg-protocol", "pg-types", "pgpass", "pg-connection-string", "postgres-array", "postgres-bytea", "postgres-date", "postgres-interval"]);
const IOREDIS = new Set(["ioredis", "redis-parser", "redis-errors", "denque", "cluster-key-slot", "standard-as-callback"]);

/** The first rule that matches a frame gives its category; the order matters. */
const CATEGORIES: Array<[category: string, matches: (site: Site) => boolean]> = [
  ["idle", (site) => site.name === "(idle)"],
  ["garbage collector", (site) => site.name === "(garbage collector)"],
  ["V8 and native (program)", (site) => site.name === "(program)" || site.name === "(root)"],
  // Start-up, not requests: it weighs in a short run and next to nothing in a long one.
  ["loading modules (start-up)", (site) => site.loadingModules === true],
  [
    "SQLite (better-sqlite3)",
    // better-sqlite3's statement.all() and run() get no frame of their own in V8's samples: their
    // time, the query itself, is the self time of our driver's executeQuery that calls them.
    (site) =>
      site.packageName === "better-sqlite3" ||
      site.packageName === "bindings" ||
      (site.name === "executeQuery" && /^(dist|src)\/db\/sqlite-driver\.[jt]s$/.test(site.path ?? "")),
  ],
  ["our code (src/)", (site) => site.path !== undefined && /^(dist|src)\//.test(site.path)],
  ["Fastify and its parts", (site) => isIn(site, FASTIFY) || (site.packageName ?? "").startsWith("@fastify/")],
  ["logging (pino)", (site) => isIn(site, PINO) || (site.packageName ?? "").startsWith("@pinojs/")],
  ["Kysely", (site) => site.packageName === "kysely"],
  ["PostgreSQL driver (pg)", (site) => isIn(site, POSTGRES)],
  ["ioredis", (site) => isIn(site, IOREDIS) || (site.packageName ?? "").startsWith("@ioredis/")],
  ["Node.js core", (site) => site.url.startsWith("node:")],
  ["other", () => true],
];

const isIn = (site: Site, packages: Set<string>) => site.packageName !== undefined && packages.has(site.packageName);

function siteOf(frame: CallFrame, root: string): Site {
  const site: Site = { name: frame.functionName, url: frame.url };
  const file = frame.url.startsWith("file:") ? fileURLToPath(frame.url) : frame.url.startsWith("/") ? frame.url : undefined;
  if (file === undefined) return site;
  const modules = file.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const inside = file.slice(modules + "/node_modules/".length);
    const parts = inside.split("/");
    site.packageName = parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
    site.file = inside;
  } else {
    const path = relative(root, file);
    site.file = path.startsWith("..") ? file : path;
    if (!path.startsWith("..")) site.path = path;
  }
  return site;
}

/**
 * `top`: how many functions to list. Each sample stands for the time since the one before it (its
 * timeDelta): the shares are of the thread's wall time while it was not idle, which on a core of
 * its own is its CPU time. With a `window`, only the samples taken within it count: a profile
 * begins at the process's start, and its start-up and warm-up are not what a row measures.
 */
export function summarizeCpuProfile(path: string, root: string, top = 12, window?: SampleWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const rootPath = resolve(root);
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);

  const selfMicros = new Map<number, number>();
  let sampledAt = profile.startTime;
  let samples = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    sampledAt += delta;
    if (window && (sampledAt < window.fromMicros || sampledAt > window.toMicros)) return;
    samples += 1;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
  });

  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { name: string; where: string; micros: number }>();
  let idleMicros = 0;
  for (const [id, micros] of selfMicros) {
    const node = nodes.get(id)!;
    const site = siteOf(node.callFrame, rootPath);
    const pseudo = site.url === "" && site.name.startsWith("(");
    // A frame without a url is native (a C++ binding, a RegExp) or code made by new Function (a
    // compiled validator): it works for its nearest caller that has a url, so it counts as that.
    let caller = parents.get(id);
    while (!pseudo && site.url === "" && caller !== undefined && caller.callFrame.url === "") caller = parents.get(caller.id);
    const counted = !pseudo && site.url === "" && caller !== undefined ? siteOf(caller.callFrame, rootPath) : site;
    for (let frame: ProfileNode | undefined = node; frame !== undefined && !counted.loadingModules; frame = parents.get(frame.id)) {
      counted.loadingModules = frame.callFrame.url.startsWith("node:internal/modules/");
    }
    const category = CATEGORIES.find(([, matches]) => matches(counted))![0];
    if (category === "idle") {
      idleMicros += micros;
      continue;
    }
    byCategory.set(category, (byCategory.get(category) ?? 0) + micros);
    if (pseudo) continue;
    const where =
      site.url !== "" ? `${site.file ?? site.url}:${node.callFrame.lineNumber + 1}` : counted === site ? "native" : `native, from ${counted.file ?? counted.url}`;
    const name = site.name === "" ? "(anonymous)" : site.name;
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { name, where, micros: 0 };
    entry.micros += micros;
    byFunction.set(key, entry);
  }

  const busyMicros = [...byCategory.values()].reduce((sum, micros) => sum + micros, 0);
  const share = (micros: number) => (busyMicros > 0 ? micros / busyMicros : 0);
  return {
    busyMicros,
    idleMicros,
    samples,
    categories: [...byCategory]
      .map(([category, micros]) => ({ category, micros, share: share(micros) }))
      .sort((a, b) => b.micros - a.micros),
    functions: [...byFunction.values()]
      .sort((a, b) => b.micros - a.micros)
      .slice(0, top)
      .map((entry) => ({ ...entry, share: share(entry.micros) })),
  };
}

/** Text for a markdown table's cell: a pipe would end the cell, even in code, and a backtick end the code. */
export const escapeTableCell = (text: string) => text.replace(/\|/g, "\\|").replace(/`/g, "'");

export function profileMarkdown(summary: ProfileSummary, title: string): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
  const ms = (micros: number) => `${Math.round(micros / 1000).toLocaleString("en")} ms`;
  // RegExp frames are named by their whole pattern.
  const cell = (text: string) => escapeTableCell(text.length > 60 ? `${text.slice(0, 59)}…` : text);
  return `### ${title}

Busy time sampled: ${ms(summary.busyMicros)} in ${summary.samples.toLocaleString("en")} samples; idle time (${ms(summary.idleMicros)}) is left out, and every share below is of the busy time.

| category | share of busy time |
| --- | --- |
${summary.categories.map((entry) => `| ${entry.category} | ${percent(entry.share)} |`).join("\n")}

| function (self time) | where | share |
| --- | --- | --- |
${summary.functions.map((entry) => `| \`${cell(entry.name)}\` | ${cell(entry.where)} | ${percent(entry.share)} |`).join("\n")}
`;
}
