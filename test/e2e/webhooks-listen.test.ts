import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { signatureHeader } from "../../src/crypto/webhook-signature.js";
import { CLI } from "../helpers/cli-process.js";

const SECRET = "whsec_listen-test";

describe("whatisup webhooks listen", () => {
  it("prints each delivery with its signature verdict and answers 200, or 400 when no v1 signature matches", async () => {
    const child = spawn(process.execPath, [CLI, "webhooks", "listen", "--port", "0", "--secret", SECRET], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const listening = new Promise<string>((resolvePromise, reject) => {
      child.once("exit", (code) => reject(new Error(`listener exited with ${code}`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        lines.push(line);
        const match = /Listening for webhooks on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
        if (match) resolvePromise(match[1]!);
      });
    });
    try {
      const url = await listening;
      const body = JSON.stringify({ event: "message.read", event_id: "01JABCDEFGHJKMNPQRSTVWXYZ0", data: { n: 1 } });
      const post = (signature: string) =>
        fetch(url, { method: "POST", headers: { "x-whatisup-signature": signature }, body });

      const good = await post(signatureHeader(SECRET, body, Math.floor(Date.now() / 1000)));
      expect(good.status).toBe(200);
      const bad = await post(signatureHeader("whsec_wrong", body, Math.floor(Date.now() / 1000)));
      expect(bad.status).toBe(400);
      const now = Math.floor(Date.now() / 1000);
      const rotating = `${signatureHeader("whsec_retiring", body, now)},${signatureHeader(SECRET, body, now).split(",")[1]}`;
      expect((await post(rotating)).status).toBe(200);
      const raw = await fetch(url, { method: "POST", body: "\u001b[2Jnot json\nforged line" });
      expect(raw.status).toBe(400);

      await expect.poll(() => lines.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(5);
      expect(lines[1]).toMatch(/signature=valid message\.read 01JABCDEFGHJKMNPQRSTVWXYZ0 \{"n":1\}$/);
      expect(lines[2]).toMatch(/signature=INVALID message\.read/);
      expect(lines[3]).toMatch(/signature=valid message\.read/);
      expect(lines[4]).toMatch(/signature=INVALID \\u001b\[2Jnot json\\nforged line$/);
      expect(lines).toHaveLength(5);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
