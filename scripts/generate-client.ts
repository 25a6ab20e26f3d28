// `npm run generate:client`: rewrites the client package's generated types and scopes from the live document.
// test/client-types.test.ts fails whenever they differ from what this would write.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GENERATED_CLIENT_SCOPES, GENERATED_CLIENT_TYPES, generateClientScopes, generateClientTypes } from "./client-types.js";

writeFileSync(GENERATED_CLIENT_TYPES, await generateClientTypes());
writeFileSync(GENERATED_CLIENT_SCOPES, generateClientScopes());
console.log(`wrote ${fileURLToPath(GENERATED_CLIENT_TYPES)} and ${fileURLToPath(GENERATED_CLIENT_SCOPES)}`);
