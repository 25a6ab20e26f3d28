import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage-error.js";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

export type ParsedCommand = {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The command's usage line, for the errors its options raise. */
  usage: string;
};

/**
 * One subcommand's arguments: `--help` (printed, then null: exit 0), strict options (an unknown
 * one is a usage error) and exactly the named positionals (a missing or extra one is too). Every
 * usage error carries the usage line, printed under it.
 */
export function parseCommand(
  args: string[],
  spec: { usage: string; help: string; options: OptionsConfig; positionals?: string[] },
): ParsedCommand | null {
  const usage = `Usage: ${spec.usage}`;
  const options: OptionsConfig = { ...spec.options, help: { type: "boolean", short: "h" } };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) throw new UsageError((error as Error).message, usage);
    throw error;
  }
  const values = parsed.values as ParsedCommand["values"];
  const positionals = parsed.positionals;
  if (values.help) {
    process.stdout.write(`${usage}\n\n${spec.help}`);
    return null;
  }
  const names = spec.positionals ?? [];
  if (positionals.length < names.length) throw new UsageError(`missing ${names[positionals.length]}`, usage);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}"`, usage);
  return { values, positionals, usage };
}

export function stringOption(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

export function requiredString(parsed: ParsedCommand, name: string): string {
  const value = stringOption(parsed, name);
  if (value === undefined || value.trim() === "") throw new UsageError(`--${name} is required`, parsed.usage);
  return value;
}

export function listOption(parsed: ParsedCommand, name: string): string[] | undefined {
  const value = parsed.values[name];
  return Array.isArray(value) ? value : undefined;
}

/** `--limit N`: a whole number from 1 to 100, as the API's pages allow. */
export function limitOption(parsed: ParsedCommand): number | undefined {
  const value = stringOption(parsed, "limit");
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100) {
    throw new UsageError("--limit must be a whole number from 1 to 100", parsed.usage);
  }
  return Number(value);
}

/**
 * Dispatches `GROUP SUBCOMMAND ...`: `GROUP --help` prints the group's help on stdout (exit 0);
 * `GROUP` alone or an unknown subcommand is a usage error, printed with that help on stderr.
 */
export async function runGroup(
  group: string,
  argv: string[],
  help: string,
  subcommands: Record<string, (args: string[]) => Promise<number>>,
): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === "--help" || subcommand === "-h" || subcommand === "help") {
    process.stdout.write(help);
    return 0;
  }
  if (subcommand === undefined) throw new UsageError(`"whatisup ${group}" needs a subcommand`, help.trimEnd());
  const run = Object.hasOwn(subcommands, subcommand) ? subcommands[subcommand] : undefined;
  if (!run) {
    throw new UsageError(
      `unknown subcommand "${group} ${subcommand}" (expected one of: ${Object.keys(subcommands).join(", ")})`,
      help.trimEnd(),
    );
  }
  return run(rest);
}

export const JSON_OPTION = { json: { type: "boolean" } } as const;
export const JSON_HELP = "  --json            print the API's JSON answer exactly, nothing else\n";
export const ENV_HELP =
  "\nTalks to the API at WHATISUP_API with the key in WHATISUP_API_KEY.\nExit codes: 0 success, 1 the API refused or could not be reached, 2 usage error.\n";
