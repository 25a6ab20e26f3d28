import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { GENERATED_CLIENT_SCOPES, GENERATED_CLIENT_TYPES, generateClientScopes, generateClientTypes } from "../scripts/client-types.js";

it("packages/client/src/generated/api-types.ts is what `npm run generate:client` makes of the live document", async () => {
  const committed = readFileSync(GENERATED_CLIENT_TYPES, "utf8");
  const generated = await generateClientTypes();
  // A route schema changed without `npm run generate:client`: the typed client no longer matches the API.
  expect(generated === committed, "the generated client types are out of date: run `npm run generate:client`").toBe(true);
  expect(generated.length).toBeGreaterThan(1000);
});

it("packages/client/src/generated/scopes.ts lists the server's scopes", () => {
  const committed = readFileSync(GENERATED_CLIENT_SCOPES, "utf8");
  expect(committed).toBe(generateClientScopes());
  expect(committed).toContain('"messages:send"');
});
