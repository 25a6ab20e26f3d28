import { apiRequest, apiSettingsFromEnv, printRawBody } from "./api-client.js";
import { JSON_OPTION, parseCommand } from "./command-args.js";

type ShowSpec<T> = {
  usage: string;
  help: string;
  /** The API path of the resource named by the command's ID argument. */
  path: (id: string) => string;
  describe: (item: T, now: Date) => string;
};

/** `whatisup <noun> show ID [--json]`: one GET, printed raw with --json, else described. */
export async function showResource<T>(args: string[], spec: ShowSpec<T>): Promise<number> {
  const parsed = parseCommand(args, { usage: spec.usage, help: spec.help, options: JSON_OPTION, positionals: ["ID"] });
  if (!parsed) return 0;
  const response = await apiRequest<T>(apiSettingsFromEnv(), "GET", spec.path(encodeURIComponent(parsed.positionals[0]!)));
  if (parsed.values.json) {
    printRawBody(response);
    return 0;
  }
  process.stdout.write(spec.describe(response.body, new Date()));
  return 0;
}
