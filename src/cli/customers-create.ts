import type { Config } from "../config.js";
import { terminalSafe } from "../format/human-readable.js";
import { createCustomer } from "../use-cases/create-customer.js";
import { secretShownOnce, writeAsOperator } from "./operator-writes.js";

export async function runCustomersCreate(config: Config, name: string, json: boolean): Promise<number> {
  const created = await writeAsOperator(config, (write, actor) => createCustomer(write, actor, { name }));
  if (json) {
    process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
    return 0;
  }
  const key = created.api_key;
  process.stdout.write(
    [
      `Created customer "${terminalSafe(created.customer.name)}" (${created.customer.id}).`,
      "",
      `Its first API key, ${key.prefix} (scopes: ${key.scopes.join(", ")}):`,
      ...secretShownOnce(key.secret),
    ].join("\n"),
  );
  return 0;
}
