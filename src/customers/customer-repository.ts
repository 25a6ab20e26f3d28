import type { Tx } from "../db/schema.js";

export type Customer = { id: string; name: string; created_at: string };

export async function insertCustomer(tx: Tx, customer: Customer): Promise<Customer> {
  await tx.insertInto("customers").values(customer).execute();
  return customer;
}
