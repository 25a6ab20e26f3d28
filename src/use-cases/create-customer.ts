import { issueApiKey, type IssuedApiKey } from "./issue-api-key.js";
import { ALL_SCOPES } from "../contract/scopes.js";
import { recordAuditEvent, type AuditOrigin } from "../audit/audit-repository.js";
import { newId } from "../ids/uuid-v7.js";
import type { Db } from "../db/schema.js";
import { nowTimestamp } from "../time/timestamps.js";
import { insertCustomer, type Customer } from "../customers/customer-repository.js";

export const FIRST_KEY_NAME = "first key";

/** A new customer and its first key (every scope, no expiry), audited, in one transaction. */
export async function createCustomer(
  db: Db,
  pepper: string,
  name: string,
  origin: AuditOrigin,
): Promise<{ customer: Customer; api_key: IssuedApiKey }> {
  return db.transaction().execute(async (tx) => {
    const customer = await insertCustomer(tx, { id: newId(), name, created_at: nowTimestamp() });
    await recordAuditEvent(tx, customer.id, origin, {
      action: "customer.created",
      target: { type: "customer", id: customer.id },
      metadata: { name },
    });
    const apiKey = await issueApiKey(
      tx,
      customer.id,
      pepper,
      { name: FIRST_KEY_NAME, instanceId: null, scopes: [ALL_SCOPES], expiresAt: null },
      origin,
    );
    return { customer, api_key: apiKey };
  });
}
