import type { Selectable } from "kysely";
import { preparedQuery } from "../db/prepared-query.js";
import type { CustomersTable, Tx } from "../db/schema.js";

/** A customer as the CLI shows it; its count of keys is for the cap check alone. */
export type Customer = Omit<Selectable<CustomersTable>, "unrevoked_keys">;

export async function insertCustomer(tx: Tx, customer: Customer): Promise<Customer> {
  await tx.insertInto("customers").values(customer).execute();
  return customer;
}

/** Whether the customer exists (the operator names customers by id). */
export async function customerExists(tx: Tx, customerId: string): Promise<boolean> {
  return (await customerById(tx, { customerId })).rows.length > 0;
}

const customerById = preparedQuery<"customerId", { id: string }>((db, value) =>
  db.selectFrom("customers").select("id").where("id", "=", value("customerId")),
);

/**
 * Keeps `unrevoked_keys` true: called by the only two statements that add or revoke keys
 * (`insertApiKey`, `markRevoked`), in their transaction. Answers the count after the change. Its
 * UPDATE holds the customer row until the transaction ends (PostgreSQL), which is what orders
 * two issues at the cap one after the other.
 */
export async function addToUnrevokedKeys(tx: Tx, customerId: string, change: number): Promise<number> {
  const { rows } = await changeUnrevokedKeys(tx, { customerId, change });
  return Number(rows[0]?.unrevoked_keys);
}

const changeUnrevokedKeys = preparedQuery<"customerId" | "change", { unrevoked_keys: number | string }>((db, value) =>
  db
    .updateTable("customers")
    .set((eb) => ({ unrevoked_keys: eb("unrevoked_keys", "+", value("change")) }))
    .where("id", "=", value("customerId"))
    .returning("unrevoked_keys"),
);
