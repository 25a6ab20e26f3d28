import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, type ErrorCode } from "../src/contract/errors.js";

/** docs/errors.md and the server's one table of error codes say the same thing. */

const ERRORS_DOC = resolve(import.meta.dirname, "../docs/errors.md");

/** Each `## \`code\`` section of the page: its code and its text up to the next heading of that level. */
function errorSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf("\n");
    const heading = part.slice(0, newline).trim();
    const code = /^`([a-z_]+)`$/.exec(heading)?.[1] ?? heading;
    expect(sections.has(code), `two sections for ${code}`).toBe(false);
    sections.set(code, part.slice(newline + 1));
  }
  return sections;
}

describe("docs/errors.md", () => {
  const sections = errorSections(readFileSync(ERRORS_DOC, "utf8"));

  it("has a section for every code of ERROR_STATUS, giving its status", () => {
    const codes = Object.keys(ERROR_STATUS) as ErrorCode[];
    expect(codes.length).toBeGreaterThan(20);
    for (const code of codes) {
      const text = sections.get(code);
      expect(text, `no section for ${code}`).toBeDefined();
      expect(/\*\*Status (\d{3})\.\*\*/.exec(text!)?.[1], `the status in ${code}'s section`).toBe(String(ERROR_STATUS[code]));
      expect(text, `${code}'s section says what to do`).toContain("**What to do:**");
    }
  });

  it("has no section for a code the server does not answer with", () => {
    const unknown = [...sections.keys()].filter((code) => !Object.hasOwn(ERROR_STATUS, code));
    expect(unknown).toEqual([]);
  });

  it("finds a missing section and a wrong status in a page that has them", () => {
    const page = "# Error codes\n\n## `auth_missing`\n\n**Status 403.** Wrong.\n\n## `no_such_code`\n\n**Status 400.**\n";
    const parsed = errorSections(page);
    expect([...parsed.keys()]).toEqual(["auth_missing", "no_such_code"]);
    expect(/\*\*Status (\d{3})\.\*\*/.exec(parsed.get("auth_missing")!)?.[1]).not.toBe(String(ERROR_STATUS.auth_missing));
    expect(parsed.has("auth_invalid")).toBe(false);
  });
});
