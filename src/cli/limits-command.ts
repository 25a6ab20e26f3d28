import type { Limits } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, parseCommand } from "./command-args.js";
import { relativeTime, table } from "../format/human-readable.js";

/** `whatisup limits`: the two token buckets a request of this key draws from, as they are now. */
export async function runLimits(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup limits [--json]",
    help: `Shows the rate limits of the key in WHATISUP_API_KEY (GET /v1/limits): its own bucket and
the one all of its customer's keys share. A request takes a token from both. Any key may ask,
and asking spends no token.

Options:
${JSON_HELP}${ENV_HELP}`,
    options: JSON_OPTION,
  });
  if (!parsed) return 0;
  const response = await apiRequest<Limits>(apiSettingsFromEnv(), "GET", "/v1/limits");
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const now = new Date();
  const row = (name: string, bucket: Limits["per_key"]): string[] => [
    name,
    String(bucket.limit),
    String(bucket.remaining),
    bucket.remaining >= bucket.limit ? "full now" : relativeTime(bucket.reset_at, now),
  ];
  process.stdout.write(
    table(["bucket", "limit", "remaining", "full again"], [row("this key", response.body.per_key), row("customer", response.body.per_customer)]),
  );
  return 0;
}
