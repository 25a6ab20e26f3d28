import { defineConfig } from "vitest/config";

// The whole suite runs on SQLite; with TEST_DATABASE_URL it runs a second time on PostgreSQL.
const postgres = process.env.TEST_DATABASE_URL;
if (!postgres && !process.argv.includes("bench")) {
  console.log("PostgreSQL runs skipped: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test).");
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Each worker loads src/ and the dependencies once for all its files, not once per file: a
    // third of the suite's time went to loading them again. Every test builds its own app on its
    // own database, so no file depends on what a module holds; a fake that must reach modules
    // another file loaded changes the shared object itself (test/helpers/fake-dns.ts).
    isolate: false,
    benchmark: { include: ["bench/**/*.bench.ts"] },
    projects: [
      { extends: true as const, test: { name: "sqlite", env: { WHATISUP_TEST_DIALECT: "sqlite" } } },
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                env: { WHATISUP_TEST_DIALECT: "postgres" },
                globalSetup: ["test/helpers/postgres-global-setup.ts"],
              },
            },
          ]
        : []),
    ],
  },
});
