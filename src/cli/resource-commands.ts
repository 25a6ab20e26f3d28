import type { ParseArgsConfig } from "node:util";
import type { Page } from "@whatisup/client";
import { table, terminalSafe } from "../format/human-readable.js";
import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { JSON_OPTION, limitOption, parseCommand, stringOption, type ParsedCommand } from "./command-args.js";

// The three shapes most API commands take: show one, list a page, delete one. Each prints the
// API's body exactly with --json, and a human reading without it.

type ShowSpec<T> = {
  usage: string;
  help: string;
  /** The command's arguments, ["ID"] unless given (a message is named by its instance too). */
  positionals?: string[];
  /** The API path of the resource named by the command's arguments, each URI-encoded. */
  path: (...ids: string[]) => string;
  describe: (item: T, now: Date) => string;
};

/** `whatisup <noun> show ID [--json]`: one GET, printed raw with --json, else described. */
export async function showResource<T>(args: string[], spec: ShowSpec<T>): Promise<number> {
  const positionals = spec.positionals ?? ["ID"];
  const parsed = parseCommand(args, { usage: spec.usage, help: spec.help, options: JSON_OPTION, positionals });
  if (!parsed) return 0;
  const response = await apiRequest<T>(apiSettingsFromEnv(), "GET", spec.path(...parsed.positionals.map(encodeURIComponent)));
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(spec.describe(response.body, new Date()));
  return 0;
}

type ListSpec<T> = {
  usage: string;
  help: string;
  /** The command's arguments, none unless given (an instance's messages are named by it). */
  positionals?: string[];
  /** The API path of the paged list, or that path made of the command's arguments, each URI-encoded. */
  path: string | ((...ids: string[]) => string);
  /** Options besides --limit, --cursor and --json (a list's filters), and the query they make. */
  filters?: { options: NonNullable<ParseArgsConfig["options"]>; query: (parsed: ParsedCommand) => Record<string, string | undefined> };
  /** What is printed for an empty page. */
  empty: string;
  columns: string[];
  row: (item: T, now: Date) => string[];
};

/** `whatisup <noun> list [filters] [--limit N] [--cursor C] [--json]`: one page as a table, and how to get the next. */
export async function listResources<T>(args: string[], spec: ListSpec<T>): Promise<number> {
  const parsed = parseCommand(args, {
    usage: spec.usage,
    help: spec.help,
    options: { ...JSON_OPTION, ...spec.filters?.options, limit: { type: "string" }, cursor: { type: "string" } },
    positionals: spec.positionals,
  });
  if (!parsed) return 0;
  const path = typeof spec.path === "string" ? spec.path : spec.path(...parsed.positionals.map(encodeURIComponent));
  const response = await apiRequest<Page<T>>(apiSettingsFromEnv(), "GET", path, {
    query: { ...spec.filters?.query(parsed), limit: limitOption(parsed), cursor: stringOption(parsed, "cursor") },
  });
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  const { data, next_cursor } = response.body;
  if (data.length === 0) process.stdout.write(`${spec.empty}\n`);
  else {
    const now = new Date();
    process.stdout.write(table(spec.columns, data.map((item) => spec.row(item, now))));
  }
  if (next_cursor !== null) process.stdout.write(`\nMore: repeat with --cursor ${terminalSafe(next_cursor)}\n`);
  return 0;
}

type DeleteSpec = {
  usage: string;
  help: string;
  /** The API path of the resource named by the command's ID argument. */
  path: (id: string) => string;
  /** The sentence printed once it is gone. */
  done: (id: string) => string;
};

/** `whatisup <noun> delete ID [--json]`: one DELETE, without asking (the answer has no body). */
export async function deleteResource(args: string[], spec: DeleteSpec): Promise<number> {
  const parsed = parseCommand(args, { usage: spec.usage, help: spec.help, options: JSON_OPTION, positionals: ["ID"] });
  if (!parsed) return 0;
  const id = parsed.positionals[0]!;
  const response = await apiRequest<null>(apiSettingsFromEnv(), "DELETE", spec.path(encodeURIComponent(id)));
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(`${spec.done(terminalSafe(id))}\n`);
  return 0;
}
