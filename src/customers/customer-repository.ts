import type { Selectable } from "kysely";
import type { SqlDialect } from "../db/dialect.js";
import type { CustomersTable, Tx } from "../db/schema.js";

/** A customer as the CLI shows it; its count of keys is for the cap check alone. */
export type Customer = Omit<Selectable<CustomersTable>, "unrevoked_keys">;

export async function insertCustomer(tx: Tx, customer: Customer): Promise<Customer> {
  await tx.insertInto("customers").values(customer).execute();
  return customer;
}

/**
 * Locks the customer row until the transaction ends (PostgreSQL; SQLite runs one write at a
 * time), so that writes that check a per-customer count and then add to it, such as issuing a key
 * under the cap, run one after another instead of both passing the check. Answers how many of the
 * customer's keys are not revoked, or undefined when there is no such customer.
 */
export async function lockCustomer(tx: Tx, dialect: SqlDialect, customerId: string): Promise<{ unrevokedKeys: number } | undefined> {
  const query = tx.selectFrom("customers").select("unrevoked_keys").where("id", "=", customerId);
  const row = await (dialect === "postgres" ? query.forUpdate() : query).executeTakeFirst();
  return row && { unrevokedKeys: Number(row.unrevoked_keys) };
}

/**
 * Keeps `unrevoked_keys` true: called by the only two statements that add or revoke keys
 * (`insertApiKey`, `markRevoked`), in their transaction.
 */
export async function addToUnrevokedKeys(tx: Tx, customerId: string, change: number): Promise<void> {
  await tx
    .updateTable("customers")
    .set((eb) => ({ unrevoked_keys: eb("unrevoked_keys", "+", change) }))
    .where("id", "=", customerId)
    .execute();
}
