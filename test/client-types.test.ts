import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { GENERATED_CLIENT_TYPES, generateClientTypes } from "../scripts/client-types.js";

it("src/client/generated/api-types.ts is what `npm run generate:client` makes of the live document", async () => {
  const committed = readFileSync(GENERATED_CLIENT_TYPES, "utf8");
  const generated = await generateClientTypes();
  // A route schema changed without `npm run generate:client`: the typed client no longer matches the API.
  expect(generated === committed, "the generated client types are out of date: run `npm run generate:client`").toBe(true);
  expect(generated.length).toBeGreaterThan(1000);
});
