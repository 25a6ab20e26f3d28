import type { Selectable } from "kysely";
import type { SqlDialect } from "../db/dialect.js";
import type { CustomersTable, Tx } from "../db/schema.js";

export type Customer = Selectable<CustomersTable>;

export async function insertCustomer(tx: Tx, customer: Customer): Promise<Customer> {
  await tx.insertInto("customers").values(customer).execute();
  return customer;
}

/**
 * Locks the customer row until the transaction ends (PostgreSQL; SQLite runs one write at a
 * time): writes that check a per-customer count and then add to it, such as issuing a key under
 * the cap, run one after another instead of both passing the check.
 */
export async function lockCustomer(tx: Tx, dialect: SqlDialect, customerId: string): Promise<boolean> {
  const query = tx.selectFrom("customers").select("id").where("id", "=", customerId);
  return (await (dialect === "postgres" ? query.forUpdate() : query).executeTakeFirst()) !== undefined;
}
