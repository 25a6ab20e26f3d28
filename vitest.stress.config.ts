import { defineConfig } from "vitest/config";

// `npm run test:stress`: the crash, chaos and load tests, apart from `npm test` (they take minutes).
// The crash and load tests run the embedded SQLite default; the chaos test needs PostgreSQL.
const postgres = process.env.TEST_DATABASE_URL;
if (!postgres) {
  if (process.env.CI === "true") throw new Error("the chaos test needs PostgreSQL: set TEST_DATABASE_URL");
  console.log("Chaos test skipped: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test).");
}

export default defineConfig({
  test: {
    // One at a time: each loads the machine's two cores on its own, and measures what it does.
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true as const,
        test: { name: "sqlite", include: ["stress/crash.test.ts", "stress/load.test.ts"], env: { WHATISUP_TEST_DIALECT: "sqlite" } },
      },
      ...(postgres
        ? [{ extends: true as const, test: { name: "postgres", include: ["stress/chaos.test.ts"], env: { WHATISUP_TEST_DIALECT: "postgres" } } }]
        : []),
    ],
  },
});
