import type { AuditEvent, Page } from "@whatisup/client";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { ENV_HELP, JSON_HELP, JSON_OPTION, limitOption, parseCommand, runGroup, stringOption } from "./command-args.js";
import { table, terminalSafe } from "../format/human-readable.js";

export const AUDIT_HELP = `Usage: whatisup audit <subcommand>

  whatisup audit list [--limit N] [--cursor C] [--json]
                                               the customer's audit log, newest first

Run "whatisup audit list --help" for its options.
${ENV_HELP}`;

export function runAudit(argv: string[]): Promise<number> {
  return runGroup("audit", argv, AUDIT_HELP, { list });
}

async function list(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    usage: "whatisup audit list [--limit N] [--cursor C] [--json]",
    help: `Lists the customer's audit events, newest first (GET /v1/audit-events): who changed what,
when and from where. Needs the audit:read scope; --json shows each event's metadata.

Options:
  --limit N         at most N events (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    options: { ...JSON_OPTION, limit: { type: "string" }, cursor: { type: "string" } },
  });
  if (!parsed) return 0;
  const response = await apiRequest<Page<AuditEvent>>(apiSettingsFromEnv(), "GET", "/v1/audit-events", {
    query: { limit: limitOption(parsed), cursor: stringOption(parsed, "cursor") },
  });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const { data, next_cursor } = response.body;
  if (data.length === 0) process.stdout.write("No audit events.\n");
  else {
    process.stdout.write(
      table(
        ["time", "action", "actor", "target", "ip", "request id"],
        data.map((event) => [
          event.created_at,
          event.action,
          actorText(event.actor),
          `${event.target.type} ${event.target.id}`,
          event.ip ?? "-",
          event.request_id ?? "-",
        ]),
      ),
    );
  }
  if (next_cursor !== null) process.stdout.write(`\nMore: repeat with --cursor ${terminalSafe(next_cursor)}\n`);
  return 0;
}

function actorText(actor: AuditEvent["actor"]): string {
  switch (actor.type) {
    case "api_key":
      return `key ${actor.prefix}`;
    case "cli":
      return "cli";
    case "leak_report":
      return "leak report";
  }
}
