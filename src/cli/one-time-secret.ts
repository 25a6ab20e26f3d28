import { terminalSafe } from "../format/human-readable.js";

/**
 * The lines that show a secret the API returns this once (a new key's, a new webhook endpoint's):
 * set apart on a line of its own so that it can be copied whole, and followed by the warning that
 * it cannot be shown again. Nothing else in the CLI prints a secret.
 */
export function oneTimeSecretLines(title: string, secret: string, afterwards: string): string[] {
  return ["", title, "", terminalSafe(secret), "", `Save it now: this secret will not be shown again. ${afterwards}`, ""];
}
