import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Every relative link of every Markdown file in the repository resolves inside the repository,
 * anchors included, the way GitHub renders them: someone who clones only this repository finds
 * every page a page points to.
 */

const REPOSITORY = resolve(import.meta.dirname, "..");

/** Folders that hold no documentation of ours: dependencies, build output, run artifacts. */
const NOT_DOCUMENTATION = new Set([".git", "node_modules", "dist", "data", "test-artifacts", "coverage"]);

function markdownFiles(root: string, folder = root): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!NOT_DOCUMENTATION.has(entry.name)) found.push(...markdownFiles(root, join(folder, entry.name)));
    } else if (entry.name.endsWith(".md")) {
      found.push(relative(root, join(folder, entry.name)));
    }
  }
  return found.sort();
}

/** The Markdown without fenced code blocks and inline code, which GitHub never turns into links. */
function proseOf(markdown: string): string {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker !== undefined) {
      fence = marker;
      lines.push("");
    } else if (fence !== null) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
      lines.push("");
    } else {
      lines.push(line.replace(/(`+)[^`]*?\1/g, ""));
    }
  }
  return lines.join("\n");
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
function slugOf(headingText: string): string {
  const text = headingText
    .replace(/`/g, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/\*+/g, "");
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown page: one per heading (a repeated slug gets -1, -2, …), and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined && (fence === null || (marker[0] === fence[0] && line.trim() === marker))) {
      fence = fence === null ? marker : null;
      continue;
    }
    if (fence !== null) continue;
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = slugOf(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const id of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id[1]!);
  }
  return anchors;
}

/** Link targets of a page: inline links and images, reference definitions, HTML href and src. */
function linkTargets(markdown: string): string[] {
  const prose = proseOf(markdown);
  const targets: string[] = [];
  for (const link of prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(link[1]!);
  for (const definition of prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm)) targets.push(definition[1]!);
  for (const attribute of prose.matchAll(/\b(?:href|src)="([^"]*)"/g)) targets.push(attribute[1]!);
  return targets;
}

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

/** What is wrong with each relative link of `files` (paths relative to `root`), one line each. */
function brokenLinks(root: string, files: string[]): string[] {
  const problems: string[] = [];
  const anchorsByFile = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    let anchors = anchorsByFile.get(file);
    if (!anchors) {
      anchors = anchorsOf(readFileSync(file, "utf8"));
      anchorsByFile.set(file, anchors);
    }
    return anchors;
  };
  for (const file of files) {
    const source = join(root, file);
    for (const target of linkTargets(readFileSync(source, "utf8"))) {
      if (EXTERNAL.test(target)) continue;
      const hashAt = target.indexOf("#");
      const pathPart = decodeURIComponent(hashAt === -1 ? target : target.slice(0, hashAt));
      const anchor = hashAt === -1 ? null : decodeURIComponent(target.slice(hashAt + 1));
      if (pathPart === "" && anchor === null) {
        problems.push(`${file}: empty link`);
        continue;
      }
      const resolved = pathPart === "" ? source : pathPart.startsWith("/") ? join(root, pathPart) : resolve(dirname(source), pathPart);
      const inside = relative(root, resolved);
      if (inside.startsWith("..") || inside.startsWith(sep)) {
        problems.push(`${file}: ${target} points outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${file}: ${target} does not exist`);
        continue;
      }
      if (anchor !== null && resolved.endsWith(".md") && statSync(resolved).isFile() && !anchorsIn(resolved).has(anchor)) {
        problems.push(`${file}: ${target} names no heading of ${inside}`);
      }
    }
  }
  return problems;
}

describe("links in the repository's Markdown", () => {
  it("every relative link of every *.md resolves inside the repository, anchors included", () => {
    const files = markdownFiles(REPOSITORY);
    for (const page of ["README.md", "SECURITY.md", "BENCHMARKS.md", "CHANGELOG.md", "docs/api.md", "docs/errors.md"]) {
      expect(files).toContain(page);
    }
    expect(brokenLinks(REPOSITORY, files)).toEqual([]);
  });

  it("the README links the pages a new reader needs", () => {
    const readme = readFileSync(join(REPOSITORY, "README.md"), "utf8");
    const targets = linkTargets(readme);
    for (const page of ["docs/api.md", "docs/errors.md", "docs/webhooks.md", "SECURITY.md", "CHANGELOG.md"]) {
      expect(targets, page).toContain(page);
    }
  });

  describe("the checker, on pages made to fail", () => {
    const root = mkdtempSync(join(tmpdir(), "whatisup-links-"));
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it("reports a missing file, a missing anchor and a link out of the repository, and nothing else", () => {
      mkdirSync(join(root, "docs"));
      writeFileSync(
        join(root, "docs/guide.md"),
        [
          "# Guide",
          "## Issue a key: `POST /v1/api-keys`",
          "## Notes",
          "## Notes",
          "### `auth_missing`",
          '<a id="custom-anchor"></a>',
        ].join("\n"),
      );
      writeFileSync(
        join(root, "README.md"),
        [
          "# Readme",
          "## Walk-through: an instance, a webhook",
          "Good: [guide](docs/guide.md), [key](docs/guide.md#issue-a-key-post-v1api-keys), [second](docs/guide.md#notes-1),",
          "[code](./docs/guide.md#auth_missing), [custom](docs/guide.md#custom-anchor), [self](#walk-through-an-instance-a-webhook),",
          "[folder](docs/), [root](/docs/guide.md), [site](https://example.com/x.md), [mail](mailto:a@example.com).",
          "Bad: [missing](docs/missing.md), [anchor](docs/guide.md#no-such-heading), [shared](../shared/spec/api.md),",
          "[third](docs/guide.md#notes-2), [self](#nowhere), [ref][r], <img src=\"docs/nope.png\">",
          "",
          "[r]: docs/gone.md",
          "",
          "`[not a link](in/inline/code.md)`",
          "```md",
          "[not a link either](in/a/fence.md)",
          "```",
        ].join("\n"),
      );
      expect(brokenLinks(root, markdownFiles(root))).toEqual([
        "README.md: docs/missing.md does not exist",
        "README.md: docs/guide.md#no-such-heading names no heading of docs/guide.md",
        "README.md: ../shared/spec/api.md points outside the repository",
        "README.md: docs/guide.md#notes-2 names no heading of docs/guide.md",
        "README.md: #nowhere names no heading of README.md",
        "README.md: docs/gone.md does not exist",
        "README.md: docs/nope.png does not exist",
      ]);
    });
  });
});
