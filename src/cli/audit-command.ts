import type { AuditEvent } from "@whatisup/client";
import { ENV_HELP, JSON_HELP, runGroup } from "./command-args.js";
import { listResources } from "./resource-commands.js";

export const AUDIT_HELP = `Usage: whatisup audit <subcommand>

  whatisup audit list [--limit N] [--cursor C] [--json]
                                               the customer's audit log, newest first

Run "whatisup audit list --help" for its options.
${ENV_HELP}`;

export function runAudit(argv: string[]): Promise<number> {
  return runGroup("audit", argv, AUDIT_HELP, { list });
}

function list(args: string[]): Promise<number> {
  return listResources<AuditEvent>(args, {
    usage: "whatisup audit list [--limit N] [--cursor C] [--json]",
    help: `Lists the customer's audit events, newest first (GET /v1/audit-events): who changed what,
when and from where. Needs the audit:read scope; --json shows each event's metadata.

Options:
  --limit N         at most N events (1 to 100; the API's default: 50)
  --cursor C        the next page: the cursor the previous page ended with
${JSON_HELP}${ENV_HELP}`,
    path: "/v1/audit-events",
    empty: "No audit events.",
    columns: ["time", "action", "actor", "target", "ip", "request id"],
    row: (event) => [
      event.created_at,
      event.action,
      actorText(event.actor),
      `${event.target.type} ${event.target.id}`,
      event.ip ?? "-",
      event.request_id ?? "-",
    ],
  });
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
