import type { Selectable } from "kysely";
import type { CustomersTable, Tx } from "../db/schema.js";

export type Customer = Selectable<CustomersTable>;

export async function insertCustomer(tx: Tx, customer: Customer): Promise<Customer> {
  await tx.insertInto("customers").values(customer).execute();
  return customer;
}
