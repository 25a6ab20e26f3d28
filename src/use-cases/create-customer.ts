import type { Actor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { IssuedApiKey } from "../contract/api-key.js";
import { ALL_SCOPES } from "../contract/scopes.js";
import { insertCustomer, type Customer } from "../customers/customer-repository.js";
import { newId } from "../ids/uuid-v7.js";
import { nowTimestamp } from "../time/timestamps.js";
import { storeNewKey } from "./issue-api-key.js";
import type { Write } from "./write.js";

export const FIRST_KEY_NAME = "first key";

/** A new customer and its first key (every scope, no expiry), audited, in the write's transaction. */
export async function createCustomer(
  write: Write,
  actor: Actor,
  input: { name: string },
): Promise<{ customer: Customer; api_key: IssuedApiKey }> {
  const customer = await insertCustomer(write.tx, { id: newId(), name: input.name, created_at: nowTimestamp() });
  await recordAuditEvent(write.tx, customer.id, actor, {
    action: "customer.created",
    target: { type: "customer", id: customer.id },
    metadata: { name: input.name },
  });
  const apiKey = await storeNewKey(write, actor, customer.id, { name: FIRST_KEY_NAME, instanceId: null, mode: "live", scopes: [ALL_SCOPES], allowedIps: null, expiresAt: null }, null);
  return { customer, api_key: apiKey };
}
