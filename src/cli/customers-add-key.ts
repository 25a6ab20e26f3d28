import type { Config } from "../config.js";
import { addCustomerKey } from "../use-cases/add-customer-key.js";
import { secretShownOnce, writeAsOperator } from "./operator-writes.js";

export async function runCustomersAddKey(config: Config, customerId: string, name: string, json: boolean): Promise<number> {
  const key = await writeAsOperator(config, (write, actor) => addCustomerKey(write, actor, { customerId, name }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ api_key: key }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    [`Added the key ${key.prefix} (scopes: ${key.scopes.join(", ")}) to customer ${customerId}:`, ...secretShownOnce(key.secret)].join("\n"),
  );
  return 0;
}
