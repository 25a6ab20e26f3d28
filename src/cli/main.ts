#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.js";
import { ApiError, ApiUnreachableError, describeApiError } from "./api-client.js";
import { terminalSafe } from "../format/human-readable.js";
import { isUuid } from "../ids/uuid-v7.js";
import { runCustomersAddKey } from "./customers-add-key.js";
import { runCustomersCreate } from "./customers-create.js";
import { runDeliveries } from "./deliveries-command.js";
import { runInstances } from "./instances-command.js";
import { runKeys } from "./keys-command.js";
import { runMigrate } from "./migrate.js";
import { runWebhooksListen } from "./webhooks-listen.js";
import { UsageError } from "./usage-error.js";
import { runServer } from "../server.js";

const HELP = `whatisup: the WhatIsUp.dev API server and its tools

Usage:
  whatisup serve                               run the API server (migrations run at start)
  whatisup migrate                             apply database migrations and exit
  whatisup customers create --name NAME [--json]
                                               create a customer and its first API key
  whatisup customers add-key --customer ID --name NAME [--json]
                                               a new full key ("*") for an existing customer
  whatisup webhooks listen [--port 4000] [--secret whsec_...]
                                               a local receiver that prints deliveries

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
  whatisup deliveries list [--status S] [--event E] [--instance ID] [--limit N]
                                               webhook deliveries, as a table

Settings come from the environment (DATABASE_URL, WHATISUP_KEY_PEPPER, PORT, HOST, ...);
see the README. Exit codes: 0 success, 1 failure (the API refused or could not be reached),
2 usage error.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  switch (command) {
    case "serve":
      expectNoArguments("serve", rest);
      await runServer(loadConfig());
      return 0;
    case "migrate":
      expectNoArguments("migrate", rest);
      return runMigrate(loadConfig());
    case "customers":
      return runCustomers(rest);
    case "webhooks":
      return runWebhooks(rest);
    case "keys":
      return runKeys(rest);
    case "instances":
      return runInstances(rest);
    case "deliveries":
      return runDeliveries(rest);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function runCustomers(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === "create") return runCustomersCreateCommand(rest);
  if (subcommand === "add-key") return runCustomersAddKeyCommand(rest);
  throw new UsageError('expected "customers create --name NAME [--json]" or "customers add-key --customer ID --name NAME [--json]"');
}

function customerKeyName(name: string | undefined): string {
  if (name === undefined || name.trim() === "") throw new UsageError("--name is required");
  if (name.length > 200) throw new UsageError("--name must be at most 200 characters");
  return name;
}

async function runCustomersCreateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { name: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write("whatisup customers create --name NAME [--json]\n\nCreates a customer and its first API key (scopes [\"*\"]).\n");
    return 0;
  }
  return runCustomersCreate(loadConfig(), customerKeyName(values.name), values.json);
}

async function runCustomersAddKeyCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      customer: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      "whatisup customers add-key --customer ID --name NAME [--json]\n\nGives an existing customer a new API key with every scope (\"*\") that never expires: the way back in for a customer that lost its last full key. Works on the database, like customers create.\n",
    );
    return 0;
  }
  const customerId = values.customer?.toLowerCase();
  if (customerId === undefined || !isUuid(customerId)) throw new UsageError("--customer must be a customer id (a UUID)");
  return runCustomersAddKey(loadConfig(), customerId, customerKeyName(values.name), values.json);
}

async function runWebhooks(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand !== "listen") throw new UsageError('expected "webhooks listen [--port N] [--secret whsec_...]"');
  const { values } = parseArgs({
    args: rest,
    options: { port: { type: "string", default: "4000" }, secret: { type: "string" }, help: { type: "boolean" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      "whatisup webhooks listen [--port 4000] [--secret whsec_...]\n\nPrints each webhook delivery it receives; with the endpoint's secret (or WHATISUP_WEBHOOK_SECRET) it checks the signature.\n",
    );
    return 0;
  }
  if (!/^\d+$/.test(values.port) || Number(values.port) > 65_535) throw new UsageError("--port must be a port number");
  return runWebhooksListen(Number(values.port), values.secret ?? process.env.WHATISUP_WEBHOOK_SECRET);
}

function expectNoArguments(command: string, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`"${command}" takes no arguments, got "${rest.join(" ")}"`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Messages quote what came in (arguments, WHATISUP_API, a server's error): printed terminalSafe.
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`whatisup: ${terminalSafe((error as Error).message)}\nRun "whatisup --help" for usage.\n`);
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
