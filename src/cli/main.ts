#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { ConfigError, loadConfig } from "../config.js";
import { ApiError, ApiUnreachableError, describeApiError } from "./api-client.js";
import { terminalSafe } from "../format/human-readable.js";
import { isUuid } from "../ids/uuid-v7.js";
import { runAudit } from "./audit-command.js";
import { endQuietlyWhenStdoutCloses } from "./closed-stdout.js";
import { JSON_OPTION, parseCommand, runGroup, stringOption } from "./command-args.js";
import { runDeliveries } from "./deliveries-command.js";
import { runInstances } from "./instances-command.js";
import { runKeys } from "./keys-command.js";
import { runLimits } from "./limits-command.js";
import { runMessages } from "./messages-command.js";
import { runSandbox } from "./sandbox-command.js";
import { runWebhooks } from "./webhooks-command.js";
import { UsageError } from "./usage-error.js";

// The server, the database and the use cases are loaded only by the commands that use them: an
// API command or --help then starts in a fraction of the time.
const HELP = `whatisup: the WhatIsUp.dev API server and its tools

Usage:
  whatisup serve                               run the API server (migrations run at start)
  whatisup migrate                             apply database migrations and exit
  whatisup customers create --name NAME [--json]
                                               create a customer and its first API key
  whatisup customers add-key --customer ID --name NAME [--json]
                                               a new full key ("*") for an existing customer
  whatisup webhooks listen [--port 4000] [--secret whsec_... | --register [--events E,...]]
                                               a local receiver that prints deliveries; with
                                               --register it creates (and at exit deletes) the
                                               endpoint that points at it
  whatisup --version                           the version of this package

API client: talks to the API over HTTP at WHATISUP_API with the key in WHATISUP_API_KEY.
Each takes --json (the API's answer, exactly) and --help (its options).
  whatisup keys list                           the active keys, as a table
  whatisup keys show ID                        one key
  whatisup keys issue --name NAME [--instance ID] [--scope S]... [--expires-at T]
                                               a new key; its secret is printed once
  whatisup keys revoke ID                      revoke a key at once (no prompt)
  whatisup keys roll ID [--expires-in SECONDS] a new key in place of this one (secret printed once);
                                               the old one stops working now or after SECONDS
  whatisup keys current                        the key in WHATISUP_API_KEY
  whatisup keys usage ID [--granularity hour|day] [--from T] [--to T]
                                               a key's requests per hour or day
  whatisup instances list [--limit N]          the instances, as a table
  whatisup instances show ID                   one instance
  whatisup instances create --name NAME        a new (sandbox) instance
  whatisup instances delete ID                 delete an instance, revoking its bound keys
  whatisup messages send INSTANCE_ID --to +15551234567 (--text TEXT | --image URL | --template NAME ...)
                                               send a message: text, media or a template (queued)
  whatisup messages list INSTANCE_ID [--direction inbound|outbound] [--status S] [--limit N]
                                               an instance's messages, both ways, newest first
  whatisup messages show INSTANCE_ID MESSAGE_ID
                                               one message and its status
  whatisup sandbox inbound INSTANCE_ID --from +15557654321 (--text TEXT | --image URL ...)
                                               a sandbox instance receives a message
  whatisup webhooks endpoints list             the webhook endpoints, as a table
  whatisup webhooks endpoints show ID          one endpoint
  whatisup webhooks endpoints create --url URL [--events E,...]
                                               a new endpoint; its signing secret is printed once
  whatisup webhooks endpoints delete ID        delete an endpoint (no prompt)
  whatisup deliveries list [--status S] [--event E] [--instance ID] [--limit N]
                                               webhook deliveries, as a table
  whatisup deliveries show ID                  one delivery: its payload and attempts
  whatisup deliveries retry ID                 attempt a failed delivery again, now
  whatisup audit list [--limit N]              the audit log, newest first
  whatisup limits                              the rate limits of the key in use, now

Run "whatisup <command> --help" for a command's options.
Settings come from the environment (DATABASE_URL, WHATISUP_KEY_PEPPER, PORT, HOST, ...);
see the README. Exit codes: 0 success, 1 failure (the API refused or could not be reached),
2 usage error.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-V") {
    expectNoArguments(command, rest);
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === undefined) throw new UsageError("a command is needed", HELP.trimEnd());
  switch (command) {
    case "serve":
      if (!parseCommand(rest, { usage: "whatisup serve", help: SERVE_HELP, options: {} })) return 0;
      await (await import("../server.js")).runServer(loadConfig());
      return 0;
    case "migrate":
      if (!parseCommand(rest, { usage: "whatisup migrate", help: MIGRATE_HELP, options: {} })) return 0;
      return (await import("./migrate.js")).runMigrate(loadConfig());
    case "customers":
      return runGroup("customers", rest, CUSTOMERS_HELP, { create: runCustomersCreateCommand, "add-key": runCustomersAddKeyCommand });
    case "webhooks":
      return runWebhooks(rest);
    case "keys":
      return runKeys(rest);
    case "instances":
      return runInstances(rest);
    case "messages":
      return runMessages(rest);
    case "sandbox":
      return runSandbox(rest);
    case "deliveries":
      return runDeliveries(rest);
    case "audit":
      return runAudit(rest);
    case "limits":
      return runLimits(rest);
    default:
      throw new UsageError(`unknown command "${command}"`, HELP.trimEnd());
  }
}

/** The version in the package's manifest, two folders up from this file in src/ and in dist/ alike. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

const SERVE_HELP = `Runs the API server in the foreground until SIGINT or SIGTERM, applying the database
migrations first. Its settings come from the environment (DATABASE_URL, WHATISUP_KEY_PEPPER,
PORT, HOST, ...): see the README.
`;

const MIGRATE_HELP = `Applies the database migrations that have not run yet, then exits. Works on DATABASE_URL.
`;

const CUSTOMERS_HELP = `Usage: whatisup customers <subcommand>

  whatisup customers create --name NAME [--json]
                                               create a customer and its first API key
  whatisup customers add-key --customer ID --name NAME [--json]
                                               a new full key ("*") for an existing customer

These work on the database (DATABASE_URL), not over HTTP: they are the operator's.
Run "whatisup customers <subcommand> --help" for its options.
`;

function customerKeyName(name: string | undefined, usage: string): string {
  if (name === undefined || name.trim() === "") throw new UsageError("--name is required", usage);
  if (name.length > 200) throw new UsageError("--name must be at most 200 characters", usage);
  return name;
}

async function runCustomersCreateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, {
    usage: "whatisup customers create --name NAME [--json]",
    help: 'Creates a customer and its first API key (scopes ["*"]), on the database (DATABASE_URL).\n',
    options: { ...JSON_OPTION, name: { type: "string" } },
  });
  if (!parsed) return 0;
  const { runCustomersCreate } = await import("./customers-create.js");
  return runCustomersCreate(loadConfig(), customerKeyName(stringOption(parsed, "name"), parsed.usage), parsed.values.json === true);
}

async function runCustomersAddKeyCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, {
    usage: "whatisup customers add-key --customer ID --name NAME [--json]",
    help: 'Gives an existing customer a new API key with every scope ("*") that never expires: the way back in for a customer that lost its last full key. Works on the database, like customers create.\n',
    options: { ...JSON_OPTION, customer: { type: "string" }, name: { type: "string" } },
  });
  if (!parsed) return 0;
  const customerId = stringOption(parsed, "customer")?.toLowerCase();
  if (customerId === undefined || !isUuid(customerId)) throw new UsageError("--customer must be a customer id (a UUID)", parsed.usage);
  const { runCustomersAddKey } = await import("./customers-add-key.js");
  return runCustomersAddKey(loadConfig(), customerId, customerKeyName(stringOption(parsed, "name"), parsed.usage), parsed.values.json === true);
}

function expectNoArguments(command: string, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`"${command}" takes no arguments, got "${rest.join(" ")}"`);
}

endQuietlyWhenStdoutCloses();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Messages quote what came in (arguments, WHATISUP_API, a server's error): printed terminalSafe.
    if (error instanceof UsageError) {
      const usage = error.usage ?? 'Run "whatisup --help" for usage.';
      process.stderr.write(`whatisup: ${terminalSafe(error.message)}\n\n${usage}\n`);
      process.exitCode = 2;
    } else if (error instanceof ApiError) {
      process.stderr.write(describeApiError(error));
      process.exitCode = 1;
    } else if (error instanceof ApiUnreachableError) {
      process.stderr.write(`whatisup: ${terminalSafe(error.message)}\n`);
      process.exitCode = 1;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`whatisup: configuration: ${terminalSafe(error.message)}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`whatisup: ${terminalSafe((error as Error).message ?? String(error))}\n`);
      process.exitCode = 1;
    }
  },
);
