import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { persistentDatabase, removeDatabase, TEST_DIALECT } from "../helpers/test-database.js";
import { runCli, runProcess, serverProcessEnv, startServer, stopServer, type CliResult, type StartedServer } from "../helpers/cli-process.js";

/**
 * `@whatisup/client` as a stranger gets it: packed with `npm pack` (its prepack builds dist/ from
 * scratch), installed from the tarball into an empty project outside the repository (openapi-fetch
 * comes from the npm cache or registry, nothing from here), a small program compiled against it
 * with `tsc --strict`, and run with node against a real server process: list, issue, revoke, a
 * refusal read from `error.error.code`, a message sent, read back and answered in the sandbox,
 * and real webhook deliveries checked with `verifyWebhookSignature`.
 */

const REPO = resolve(import.meta.dirname, "../..");
const PACKAGE = join(REPO, "packages/client");
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
const NPM_INSTALL_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--no-update-notifier"];

/** Where npm gets packages from: the machine's settings, kept for the commands run here. */
const NPM_SOURCE_SETTINGS = /^npm_config_(cache|registry|userconfig|globalconfig|offline|cafile|strict_ssl|proxy|https_proxy|noproxy)$/i;

/**
 * Runs a command to its end. What an enclosing `npm test` adds to the environment (its project's
 * prefix, package and lifecycle) is left out, so that npm here works on the temporary project
 * alone, as in a fresh shell; where packages come from is kept.
 */
function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_") || NPM_SOURCE_SETTINGS.test(name)),
  );
  return runProcess(command, args, { cwd, env: { ...env, ...extraEnv } });
}

type PackResult = { filename: string; size: number; unpackedSize: number; files: { path: string }[] };

/** The consumer's program: only what a developer who read packages/client/README.md would write. */
const PROGRAM = `import { createServer } from "node:http";
import {
  createClient,
  verifyWebhookSignature,
  WebhookSignatureError,
  type ApiKey,
  type CreatedWebhookEndpoint,
  type ErrorCode,
  type IssuedApiKey,
  type Message,
  type MessageReceivedEvent,
  type WebhookEvent,
} from "@whatisup/client";

const baseUrl = process.env.WHATISUP_API!;
const client = createClient({ baseUrl, apiKey: process.env.WHATISUP_API_KEY! });

function describeKey(key: ApiKey): string {
  return \`\${key.prefix} (\${key.name}, \${key.scopes.join(" ")})\`;
}

// A webhook receiver, checking every request as docs/client.md says: raw bytes, then the helper.
let secret = "";
type Delivery = { event: WebhookEvent; header: string; body: Buffer };
const deliveries: Delivery[] = [];
async function delivery(name: WebhookEvent["event"]): Promise<Delivery> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = deliveries.find((each) => each.event.event === name);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(\`no \${name} delivery in 30 s\`);
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 50));
  }
}
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", async () => {
    const body = Buffer.concat(chunks);
    try {
      const event = await verifyWebhookSignature(secret, request.headers["x-whatisup-signature"], body, { toleranceSeconds: 300 });
      response.writeHead(204).end();
      deliveries.push({ event, header: String(request.headers["x-whatisup-signature"]), body });
    } catch (error) {
      response.writeHead(400).end();
      console.log(\`receiver refused: \${error instanceof WebhookSignatureError ? error.reason : String(error)}\`);
    }
  });
});
await new Promise<void>((listening) => receiver.listen(0, "127.0.0.1", listening));
const address = receiver.address();
if (address === null || typeof address === "string") throw new Error("no port");

const endpoint = await client.POST("/v1/webhook-endpoints", {
  body: { url: \`http://127.0.0.1:\${address.port}/hooks\`, events: ["api_key.issued", "message.received"] },
});
const created: CreatedWebhookEndpoint | undefined = endpoint.data;
// The secret is absent only from an Idempotency-Key replay; this is the first answer.
if (!created?.secret) throw new Error(\`endpoint: \${endpoint.response.status} \${endpoint.error?.error.code}\`);
secret = created.secret;
console.log(\`endpoint: \${endpoint.response.status} \${created.secret.startsWith("whsec_")}\`);

const listed = await client.GET("/v1/api-keys");
console.log(\`listed: \${listed.response.status} \${(listed.data ?? []).map(describeKey).join("; ")}\`);

const issued = await client.POST("/v1/api-keys", { body: { name: "from the package", scopes: ["api_keys:read"] } });
const key: IssuedApiKey | undefined = issued.data;
if (!key) throw new Error(\`issue: \${issued.response.status} \${issued.error?.error.code}\`);
console.log(\`issued: \${issued.response.status} \${key.id} \${describeKey(key)} secret \${key.secret.length > 40}\`);

const own = createClient({ baseUrl, apiKey: key.secret });
const ownList = await own.GET("/v1/api-keys");
console.log(\`the new key lists: \${ownList.response.status} \${ownList.data?.length}\`);

const revoked = await client.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } });
console.log(\`revoked: \${revoked.response.status}\`);

const refused = await own.GET("/v1/api-keys");
const code: ErrorCode | undefined = refused.error?.error.code;
console.log(\`refused: \${refused.response.status} \${code} \${refused.data === undefined}\`);

// A sandbox instance sends a message, reads it back, and receives an answer that quotes it.
const instance = await client.POST("/v1/instances", { body: { name: "from the package" } });
if (!instance.data) throw new Error(\`instance: \${instance.response.status} \${instance.error?.error.code}\`);
const path = { id: instance.data.id };
const sent = await client.POST("/v1/instances/{id}/messages", { params: { path }, body: { type: "text", to: "+15551234567", text: "hello" } });
if (!sent.data) throw new Error(\`send: \${sent.response.status} \${sent.error?.error.code}\`);
const readBack = await client.GET("/v1/instances/{id}/messages/{message_id}", { params: { path: { ...path, message_id: sent.data.id } } });
const message: Message | undefined = readBack.data;
console.log(\`read back: \${readBack.response.status} \${message?.direction} \${message?.text}\`);
const answer = await client.POST("/v1/instances/{id}/sandbox/inbound", {
  params: { path },
  body: { from: "+15557654321", text: "thanks", reply_to: sent.data.id },
});
console.log(\`inbound: \${answer.response.status} \${answer.data?.direction} \${answer.data?.status}\`);

const issuedDelivery = await delivery("api_key.issued");
const event = issuedDelivery.event;
// Narrowed on its name, the event's data is typed: an api_key.issued carries the key (an ApiKey).
const issuedKey: ApiKey | undefined = event.event === "api_key.issued" ? event.data.api_key : undefined;
console.log(\`webhook: \${event.event} for the issued key \${issuedKey?.id === key.id}\`);
// A message.received carries the inbound message itself as its data.
const receivedEvent = (await delivery("message.received")).event;
const inbound: MessageReceivedEvent | undefined = receivedEvent.event === "message.received" ? receivedEvent : undefined;
console.log(\`webhook: message.received from \${inbound?.data.from} quoting ours \${inbound?.data.reply_to === sent.data.id}\`);
const lastDelivery = issuedDelivery;

const tampered = Buffer.from(lastDelivery.body.toString("utf8").replace("from the package", "from elsewhere"));
const tamperedReason = await verifyWebhookSignature(secret, lastDelivery.header, tampered).then(
  () => "accepted",
  (error: unknown) => (error instanceof WebhookSignatureError ? error.reason : String(error)),
);
console.log(\`tampered webhook: \${tamperedReason}\`);
const wrongSecretReason = await verifyWebhookSignature("whsec_not-this-one", lastDelivery.header, lastDelivery.body).then(
  () => "accepted",
  (error: unknown) => (error instanceof WebhookSignatureError ? error.reason : String(error)),
);
console.log(\`wrong secret: \${wrongSecretReason}\`);

await client.DELETE("/v1/webhook-endpoints/{id}", { params: { path: { id: created.id } } });
receiver.close();
`;

/**
 * The TypeScript examples of the package's README (as installed) and of docs/client.md, each its
 * own module: a reader pastes them. What an example only refers to (the client made in an earlier
 * one, an id) is declared before it.
 */
function documentedExamples(project: string): { file: string; code: string }[] {
  const pages = [
    { name: "package-readme", text: readFileSync(join(project, "node_modules/@whatisup/client/README.md"), "utf8") },
    { name: "docs-client", text: readFileSync(join(REPO, "docs/client.md"), "utf8") },
  ];
  const referred = { client: 'import("@whatisup/client").WhatIsUpClient', id: "string", baseUrl: "string", revokedKeySecret: "string" };
  return pages.flatMap(({ name, text }) =>
    [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match, index) => {
      const example = match[1]!;
      const declarations = Object.entries(referred)
        .filter(([variable]) => new RegExp(`\\b${variable}\\b`).test(example) && !new RegExp(`\\bconst ${variable}\\b`).test(example))
        .map(([variable, type]) => `declare const ${variable}: ${type};\n`);
      return { file: `src/examples/${name}-${index + 1}.ts`, code: `${declarations.join("")}${example}export {};\n` };
    }),
  );
}

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022"],
    types: ["node"],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: false,
    rootDir: "src",
    outDir: "dist",
  },
  include: ["src"],
};

// The package knows nothing of the server's database: the SQLite run is enough.
describe.runIf(TEST_DIALECT === "sqlite")("@whatisup/client packed, installed into an empty project, and run against a server", () => {
  let workdir: string;
  let packed: PackResult;
  let tarball: string;
  let project: string;
  let database: DatabaseConfig;
  let server: StartedServer;
  let firstKey: { id: string; secret: string; prefix: string };

  beforeAll(async () => {
    workdir = realpathSync(mkdtempSync(join(tmpdir(), "whatisup-client-package-")));

    // Packed from a copy of the workspace, so that its prepack (which empties and rebuilds dist/)
    // never touches the dist/ that other tests import meanwhile. Its node_modules is the repo's:
    // the build tools, as in a clone.
    const source = join(workdir, "source");
    mkdirSync(source);
    for (const entry of ["package.json", "tsconfig.json", "README.md", "src"]) cpSync(join(PACKAGE, entry), join(source, entry), { recursive: true });
    symlinkSync(join(REPO, "node_modules"), join(source, "node_modules"), "dir");
    const tarballs = join(workdir, "tarballs");
    mkdirSync(tarballs);
    const pack = await run("npm", ["pack", "--json", "--pack-destination", tarballs], source);
    expect(pack.code, pack.stderr).toBe(0);
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as PackResult[])[0]!;
    tarball = join(tarballs, packed.filename);
    console.log(`@whatisup/client tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);

    // The consumer: an empty project in its own directory, with no path back to the repository.
    project = join(workdir, "consumer");
    mkdirSync(join(project, "src"), { recursive: true });
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }, null, 2));
    const install = await run("npm", ["install", tarball, "@types/node@20", ...NPM_INSTALL_FLAGS], project);
    expect(install.code, install.stderr).toBe(0);
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(project, "src/main.ts"), PROGRAM);

    database = persistentDatabase();
    const serverEnv = { ...serverProcessEnv(database), WEBHOOK_ALLOW_LOOPBACK: "true" };
    server = await startServer(serverEnv);
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], serverEnv);
    expect(created.code, created.stderr).toBe(0);
    firstKey = JSON.parse(created.stdout).api_key;
  }, 300_000);

  afterAll(async () => {
    await stopServer(server);
    if (database) await removeDatabase(database);
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it("holds package.json, README.md and the built dist/ only: no server code", () => {
    const paths = packed.files.map((file) => file.path).sort();
    expect(paths).toContain("package.json");
    expect(paths).toContain("README.md");
    expect(paths).toContain("dist/index.js");
    expect(paths).toContain("dist/index.d.ts");
    expect(paths).toContain("dist/webhook-signature.js");
    expect(paths).toContain("dist/generated/api-types.d.ts");
    expect(paths.filter((path) => path !== "package.json" && path !== "README.md" && !path.startsWith("dist/"))).toEqual([]);
    const installed = JSON.parse(readFileSync(join(project, "node_modules/@whatisup/client/package.json"), "utf8"));
    expect(installed).toMatchObject({ name: "@whatisup/client", license: "MIT", dependencies: { "openapi-fetch": expect.any(String) } });
    expect(Object.keys(installed.dependencies)).toEqual(["openapi-fetch"]);
    expect(installed.scripts?.prepack).toBeDefined();
  });

  it("the installed package reaches nothing outside the consumer project", () => {
    const lock = readFileSync(join(project, "package-lock.json"), "utf8");
    expect(lock).not.toContain(REPO);
    const dist = packed.files.filter((file) => file.path.endsWith(".js")).map((file) => readFileSync(join(project, "node_modules/@whatisup/client", file.path), "utf8"));
    for (const code of dist) {
      for (const [, specifier] of code.matchAll(/\bfrom\s+"([^"]+)"/g)) expect(specifier).toMatch(/^(\.\/|\.\.\/|openapi-fetch$)/);
      expect(code).not.toMatch(/\bnode:/);
    }
  });

  it("compiles a program and the documented examples against it with tsc --strict, then runs the program against the server", async () => {
    const examples = documentedExamples(project);
    expect(examples.length).toBeGreaterThanOrEqual(8);
    mkdirSync(join(project, "src/examples"));
    for (const { file, code } of examples) writeFileSync(join(project, file), code);
    const compiled = await run(process.execPath, [TSC, "-p", "tsconfig.json"], project);
    expect(compiled.code, compiled.stdout + compiled.stderr).toBe(0);

    const program = await run(process.execPath, ["dist/main.js"], project, {
      WHATISUP_API: server.baseUrl,
      WHATISUP_API_KEY: firstKey.secret,
    });
    expect(program.code, program.stderr).toBe(0);
    const lines = program.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe("endpoint: 201 true");
    expect(lines[1]).toBe(`listed: 200 ${firstKey.prefix} (first key, *)`);
    expect(lines[2]).toMatch(/^issued: 201 [0-9a-f-]{36} zpk_live_\w+ \(from the package, api_keys:read\) secret true$/);
    expect(lines.slice(3, 6)).toEqual(["the new key lists: 200 2", "revoked: 204", "refused: 401 auth_expired true"]);
    expect(lines.slice(6)).toEqual([
      "read back: 200 outbound hello",
      "inbound: 201 inbound received",
      "webhook: api_key.issued for the issued key true",
      "webhook: message.received from +15557654321 quoting ours true",
      "tampered webhook: signature_mismatch",
      "wrong secret: signature_mismatch",
    ]);
    expect(program.stdout).not.toContain(firstKey.secret);
  }, 300_000);
});
