import { defineConfig } from "vitest/config";

// `npm run test:stress`: the crash and load tests, apart from `npm test` (they take minutes).
export default defineConfig({
  test: {
    include: ["stress/**/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    env: { WHATISUP_TEST_DIALECT: "sqlite" },
  },
});
