import type { Actor } from "../audit/actor.js";
import type { IssuedApiKey } from "../contract/api-key.js";
import { ALL_SCOPES } from "../contract/scopes.js";
import { customerExists } from "../customers/customer-repository.js";
import { storeNewKey } from "./issue-api-key.js";
import type { Write } from "./write.js";

/** The customer id names no customer. */
export class CustomerNotFoundError extends Error {}

/**
 * `whatisup customers add-key`: a new full key (`*`, never expiring) for an existing customer,
 * made by the operator and audited as such. It is how a customer that lost its last full key
 * gets back in, so MAX_ACTIVE_KEYS does not apply: a customer at the cap may be the one locked out.
 */
export async function addCustomerKey(write: Write, actor: Actor, input: { customerId: string; name: string }): Promise<IssuedApiKey> {
  if (!(await customerExists(write.tx, input.customerId))) {
    throw new CustomerNotFoundError(`no customer has the id ${input.customerId}`);
  }
  return storeNewKey(write, actor, input.customerId, { name: input.name, instanceId: null, mode: "live", scopes: [ALL_SCOPES], allowedIps: null, expiresAt: null }, null);
}
