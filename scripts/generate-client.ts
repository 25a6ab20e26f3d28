// `npm run generate:client`: rewrites the typed client's generated types from the live document.
// test/client-types.test.ts fails whenever they differ from what this would write.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GENERATED_CLIENT_TYPES, generateClientTypes } from "./client-types.js";

writeFileSync(GENERATED_CLIENT_TYPES, await generateClientTypes());
console.log(`wrote ${fileURLToPath(GENERATED_CLIENT_TYPES)}`);
