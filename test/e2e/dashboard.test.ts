import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConfig } from "../../src/config.js";
import { runCli, serverProcessEnv, startServer, stopServer, type StartedServer } from "../helpers/cli-process.js";
import { TEST_DIALECT, persistentDatabase, removeDatabase } from "../helpers/test-database.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

/**
 * The dashboard in headless Chromium (Debian's package, installed by .ci/run) against the
 * compiled server on a socket: sign in, issue a key and see its secret once, revoke it and see
 * the API refuse it, read the audit log and an instance's deliveries, issue a test-mode key with an
 * allowlist, and roll keys (the signed-in one too). Every screen is kept as a
 * screenshot in test-artifacts/dashboard/.
 */

const CHROMIUM = "/usr/bin/chromium";
/** This machine's network is closed: without these, Chromium keeps dialling Google's hosts. */
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOTS = resolve(import.meta.dirname, "../../test-artifacts/dashboard");
const KEY_PATTERN = /zpk_live_[0-9A-Za-z]{49}/;
/** axe-core, the accessibility rules engine, put into the page by the test only. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) {
  console.log(`Dashboard browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium).`);
}

// In CI a missing browser is a failure (.ci/run installs it), never a silent skip.
describe.skipIf(!haveChromium && !process.env.CI)("the dashboard in headless Chromium", () => {
  let database: DatabaseConfig;
  let server: StartedServer;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let firstKey: { id: string; prefix: string; secret: string };
  let instance: { id: string; name: string };
  let serverLog = "";
  /** Every address the page asked for, to prove it fetches nothing from elsewhere. */
  const requested: string[] = [];
  const consoleProblems: string[] = [];

  async function api(path: string, key: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
    const response = await fetch(`${server.baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async function screenshot(name: string): Promise<void> {
    await page.screenshot({ path: resolve(SCREENSHOTS, `${TEST_DIALECT}-${name}.png`), fullPage: true });
  }

  /**
   * Runs an expression in the page. As text: the tests compile without the DOM library, which
   * would clash with Node's own globals.
   */
  function inPage<T>(expression: string): Promise<T> {
    return page.evaluate<T>(expression);
  }

  /** Everything a user could read or copy out of the page: its markup and its fields' values. */
  function pageText(): Promise<string> {
    return inPage(`document.documentElement.outerHTML + [...document.querySelectorAll("input")].map((input) => input.value).join("\\n")`);
  }

  /** What axe finds wrong on the screen as it is now (WCAG 2.1 A and AA, and best practices). */
  async function accessibilityViolations(): Promise<string[]> {
    if (!(await inPage<boolean>("typeof axe !== 'undefined'"))) await inPage(AXE_SOURCE);
    return inPage(
      `axe.run(document, { runOnly: { type: "tag", values: ${JSON.stringify(AXE_RULES)} } }).then((result) =>
        result.violations.map((rule) => rule.id + ": " + rule.nodes.map((node) => node.target.join(" ")).join(", ")))`,
    );
  }

  /** Keeps the screen as a screenshot, after checking it with axe. */
  async function checkScreen(name: string): Promise<void> {
    expect(await accessibilityViolations(), name).toEqual([]);
    await screenshot(name);
  }

  const focusedId = () => inPage<string | undefined>("document.activeElement?.id");
  const focusedText = () => inPage<string | undefined>("document.activeElement?.textContent");
  // A dialog's \`close\` event, which hands the focus back, comes a task after the dialog is hidden:
  // where a test waits for a dialog to hide, it polls for the focus.

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    receiver = await WebhookReceiver.start([503]);
    database = persistentDatabase();
    const env = {
      ...serverProcessEnv(database),
      WEBHOOK_ALLOW_LOOPBACK: "true",
      // One failed attempt, then a retry far away: the delivery stays visibly "retrying".
      WEBHOOK_RETRY_DELAYS_MS: "0,600000",
      WORKER_POLL_MS: "50",
    };
    server = await startServer(env);
    server.process.stdout!.on("data", (chunk) => (serverLog += chunk));
    server.process.stderr!.on("data", (chunk) => (serverLog += chunk));
    const created = await runCli(["customers", "create", "--name", "Acme", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    firstKey = JSON.parse(created.stdout).api_key;

    const endpoint = await api("/v1/webhook-endpoints", firstKey.secret, {
      method: "POST",
      body: JSON.stringify({ url: receiver.url(), events: ["instance.created"] }),
    });
    expect(endpoint.status).toBe(201);
    const createdInstance = await api("/v1/instances", firstKey.secret, {
      method: "POST",
      body: JSON.stringify({ name: "support line" }),
    });
    expect(createdInstance.status).toBe(201);
    instance = createdInstance.body;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    context = await browser.newContext({
      permissions: ["clipboard-read", "clipboard-write"],
      viewport: { width: 1280, height: 800 },
    });
    page = await context.newPage();
    page.setDefaultTimeout(5_000);
    page.on("request", (request) => requested.push(request.url()));
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") consoleProblems.push(message.text());
    });
    page.on("pageerror", (error) => consoleProblems.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopServer(server);
    await receiver?.close();
    if (database) await removeDatabase(database);
  });

  it("refuses a bad key at sign-in with the API's code and message, and keeps nothing", async () => {
    await page.goto(`${server.baseUrl}/dashboard`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(false);
    expect(await page.getByRole("navigation").isVisible()).toBe(false);
    await checkScreen("01-sign-in");

    await page.getByLabel("API key", { exact: true }).fill("zpk_live_not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.locator("#sign-in-error");
    await alert.filter({ hasText: "auth_malformed" }).waitFor();
    expect(await alert.getAttribute("role")).toBe("alert");
    expect(await inPage("sessionStorage.length")).toBe(0);
    // The field keeps focus, so a keyboard user can fix the key at once.
    expect(await focusedId()).toBe("sign-in-key");
    await checkScreen("02-sign-in-refused");
  });

  it("signs in with a pasted key kept in sessionStorage only, and lists the keys", async () => {
    await page.getByLabel("API key", { exact: true }).fill(firstKey.secret);
    await page.getByRole("button", { name: "Sign in" }).click();
    const keysTable = page.getByRole("table", { name: "Active API keys, newest first" });
    await keysTable.getByRole("row", { name: new RegExp(firstKey.prefix) }).waitFor();

    const row = keysTable.locator(`tr[data-key-id="${firstKey.id}"]`);
    const cells = await row.locator("th, td").allInnerTexts();
    // prefix, name, instance, scopes, last used, expires, created, status, actions
    expect(cells[0]).toBe(firstKey.prefix);
    expect(cells[1]).toContain("(this session)");
    expect(cells[2]).toBe("all instances");
    expect(cells[3]).toBe("*");
    expect(cells[5]).toBe("never");
    expect(cells[6]).toMatch(/just now|sec ago|min ago/);
    expect(cells[7]).toBe("active");
    const headers = await keysTable.locator("thead th").allInnerTexts();
    expect(headers.slice(0, 8)).toEqual(["Prefix", "Name", "Instance", "Scopes", "Last used", "Expires", "Created", "Status"]);

    expect(await inPage("Object.entries(sessionStorage)")).toEqual([["whatisup.dashboard.api_key", firstKey.secret]]);
    expect(await inPage("localStorage.length")).toBe(0);
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(firstKey.secret);
    // The page shows the prefix it is signed in with, never the rest of the key, and the key's name
    // (from GET /v1/api-keys/current).
    expect(await page.locator("#session-key").innerText()).toBe(`Signed in as ${firstKey.prefix}… (first key)`);
    expect(await pageText()).not.toContain(firstKey.secret);
    await checkScreen("03-keys");
  });

  let issued: { prefix: string; secret: string };

  it("issues a key bound to an instance and shows its secret once, with a copy button", async () => {
    await page.getByRole("main").getByRole("button", { name: "Issue key" }).click();
    const dialog = page.getByRole("dialog", { name: "Issue an API key" });
    await dialog.waitFor();
    expect(await focusedId()).toBe("issue-name");

    // Refused first: no name. The dialog says so and stays open.
    await dialog.getByRole("button", { name: "Issue key" }).click();
    await dialog.locator("#issue-error").filter({ hasText: "Give the key a name." }).waitFor();

    await dialog.getByLabel("Name", { exact: true }).fill("dashboard-e2e");
    expect(await dialog.locator("#issue-error").isVisible()).toBe(false);
    await dialog.getByLabel("Instance", { exact: true }).selectOption({ label: `${instance.name} (${instance.id})` });
    await dialog.getByRole("checkbox", { name: "messages:send" }).check();
    await dialog.getByRole("checkbox", { name: "deliveries:read" }).check();
    await dialog.getByLabel("Expires (your local time, optional)", { exact: true }).fill("2099-01-31T12:00");
    await checkScreen("04-issue-dialog");
    await dialog.getByRole("button", { name: "Issue key" }).click();

    await dialog.getByRole("heading", { name: "Key issued" }).waitFor();
    expect(await dialog.innerText()).toContain("Copy this key now. It won't be shown again.");
    const secret = await dialog.getByLabel(/^Secret of/).inputValue();
    expect(secret).toMatch(new RegExp(`^${KEY_PATTERN.source}$`));
    const prefix = await dialog.locator("#issued-prefix").innerText();
    expect(secret.startsWith(prefix)).toBe(true);
    issued = { prefix, secret };

    await dialog.getByRole("button", { name: "Copy" }).click();
    await dialog.locator("#issued-copy-status").filter({ hasText: "Copied to the clipboard." }).waitFor();
    expect(await inPage("navigator.clipboard.readText()")).toBe(secret);
    await checkScreen("05-secret-once");

    // The issued key works, with what the dialog asked for.
    const shown = await api("/v1/api-keys", firstKey.secret);
    const stored = shown.body.find((key: { prefix: string }) => key.prefix === prefix);
    expect(stored).toMatchObject({
      name: "dashboard-e2e",
      instance_id: instance.id,
      scopes: ["messages:send", "deliveries:read"],
      revoked_at: null,
    });
    expect(Date.parse(stored.expires_at)).toBeGreaterThan(Date.parse("2099-01-30T00:00:00Z"));
    expect((await api("/v1/limits", secret)).status).toBe(200);

    await dialog.getByRole("button", { name: "I have saved it" }).click();
    await dialog.waitFor({ state: "hidden" });
    // Focus goes back where it came from, and the secret is gone from the page.
    await expect.poll(focusedText).toBe("Issue key");
    expect(await pageText()).not.toContain(secret);

    const row = page.getByRole("row", { name: new RegExp(prefix) });
    await row.waitFor();
    const cells = await row.locator("th, td").allInnerTexts();
    expect(cells[2]).toBe(instance.name);
    expect(cells[3]).toBe("messages:send\ndeliveries:read");
    expect(cells[5]).toMatch(/^in \d+ years$/);

    // A reload keeps the session (same tab) and never brings the secret back.
    await page.reload();
    await page.getByRole("row", { name: new RegExp(prefix) }).waitFor();
    expect(await pageText()).not.toContain(secret);
  });

  it("is usable from the keyboard: the dialog opens with Enter and closes with Escape", async () => {
    await page.getByRole("main").getByRole("button", { name: "Issue key" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("dialog", { name: "Issue an API key" }).waitFor();
    expect(await focusedId()).toBe("issue-name");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Issue key");
  });

  it("revokes after a confirmation, and the API refuses the key at once", async () => {
    const row = page.getByRole("row", { name: new RegExp(issued.prefix) });
    await row.getByRole("button", { name: `Revoke dashboard-e2e (${issued.prefix})` }).click();
    const confirm = page.getByRole("dialog", { name: `Revoke ${issued.prefix}?` });
    await confirm.waitFor();
    expect(await confirm.innerText()).toContain("This cannot be undone.");
    // Cancel is the safe default: it has the focus, and cancelling revokes nothing.
    expect(await focusedText()).toBe("Cancel");
    await checkScreen("06-revoke-confirm");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    expect((await api("/v1/limits", issued.secret)).status).toBe(200);

    await row.getByRole("button", { name: `Revoke dashboard-e2e (${issued.prefix})` }).click();
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await confirm.waitFor({ state: "hidden" });
    await row.waitFor({ state: "detached" });
    await page.locator("#announcer").filter({ hasText: `Key ${issued.prefix} revoked.` }).waitFor();

    const refused = await api("/v1/limits", issued.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("auth_expired");
    await checkScreen("07-keys-after-revoke");
  });

  it("shows the audit log, newest first, with who did what", async () => {
    await page.getByRole("link", { name: "Audit log" }).click();
    const table = page.getByRole("table", { name: "Audit events, newest first" });
    await table.getByRole("row", { name: /api_key\.revoked/ }).waitFor();
    expect(await page.getByRole("link", { name: "Audit log" }).getAttribute("aria-current")).toBe("page");
    const actions = await table.locator("tbody th").allInnerTexts();
    expect(actions).toEqual([
      "api_key.revoked",
      "api_key.issued",
      "instance.created",
      "webhook_endpoint.created",
      // The customer and its first key: one transaction, the same millisecond, ids in order.
      "api_key.issued",
      "customer.created",
    ]);
    const revoked = await table.locator("tbody tr").first().locator("th, td").allInnerTexts();
    expect(revoked[2]).toBe(firstKey.prefix);
    expect(revoked[3]).toMatch(/^api_key [0-9a-f-]{36}$/);
    expect(revoked[5]).toMatch(/^req_/);
    expect(await table.locator("tbody tr").last().locator("td").nth(1).innerText()).toBe("command line");
    await checkScreen("08-audit-log");
  });

  it("shows an instance's webhook deliveries, with the failed attempt and the retry to come", async () => {
    await expect.poll(() => receiver.requests.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await page.getByRole("link", { name: "Deliveries" }).click();
    await page
      .getByRole("region", { name: "Webhook deliveries" })
      .getByLabel("Instance", { exact: true })
      .selectOption({ label: instance.name });
    await page.getByRole("button", { name: "Show deliveries" }).click();
    const table = page.getByRole("table", { name: "Webhook deliveries of the chosen instance, newest first" });
    const row = table.getByRole("row", { name: /instance\.created/ });
    await row.waitFor();
    const cells = await row.locator("th, td").allInnerTexts();
    // created, event, status, attempts, last response, last error, next attempt, endpoint
    expect(cells.slice(1, 5)).toEqual(["instance.created", "retrying", "1", "503"]);
    expect(cells[6]).toMatch(/^in \d+ min$/);
    expect(await table.locator("tbody tr").count()).toBe(1);
    await checkScreen("09-deliveries");
  });

  it("issues a test-mode key with an IP allowlist, and shows the API's refusal of a bad entry", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("main").getByRole("button", { name: "Issue key" }).click();
    const dialog = page.getByRole("dialog", { name: "Issue an API key" });
    await dialog.waitFor();
    // The signed-in key's mode is the default.
    expect(await dialog.getByLabel("Mode", { exact: true }).inputValue()).toBe("live");
    await dialog.getByLabel("Name", { exact: true }).fill("test-mode-e2e");
    await dialog.getByLabel("Mode", { exact: true }).selectOption("test");
    const allowlist = dialog.getByLabel("Allowed IPs (optional)", { exact: true });
    await allowlist.fill("127.0.0.1, not-an-address");
    await dialog.getByRole("button", { name: "Issue key" }).click();
    const error = dialog.locator("#issue-error");
    await error.filter({ hasText: "validation_failed" }).waitFor();
    expect(await error.innerText()).toContain("body.allowed_ips.1");

    await allowlist.fill("127.0.0.1,\n10.0.0.0/8");
    expect(await error.innerText()).toBe("");
    await checkScreen("11-issue-test-mode");
    await dialog.getByRole("button", { name: "Issue key" }).click();
    await dialog.getByRole("heading", { name: "Key issued" }).waitFor();
    const prefix = await dialog.locator("#issued-prefix").innerText();
    expect(prefix).toMatch(/^zpk_test_/);
    const secret = await dialog.getByLabel(/^Secret of/).inputValue();
    expect(secret.startsWith(prefix)).toBe(true);
    await dialog.getByRole("button", { name: "I have saved it" }).click();
    await dialog.waitFor({ state: "hidden" });

    const stored = (await api("/v1/api-keys", firstKey.secret)).body.find((key: { prefix: string }) => key.prefix === prefix);
    expect(stored).toMatchObject({ name: "test-mode-e2e", mode: "test" });
    const fetched = await api(`/v1/api-keys/${stored.id}`, firstKey.secret);
    expect(fetched.body.allowed_ips).toEqual(["127.0.0.1", "10.0.0.0/8"]);
    const row = page.getByRole("row", { name: new RegExp(prefix) });
    await row.waitFor();
    expect((await row.locator("th, td").allInnerTexts())[0]).toMatch(new RegExp(`^${prefix}\\s*test$`));
  });

  it("rolls a key with no overlap: the new secret once, the old key refused at once", async () => {
    const old = await api("/v1/api-keys", firstKey.secret, { method: "POST", body: JSON.stringify({ name: "roll-e2e" }) });
    expect(old.status).toBe(201);
    await page.reload();
    const oldRow = page.getByRole("row", { name: new RegExp(old.body.prefix) });
    const rollButton = oldRow.getByRole("button", { name: `Roll roll-e2e (${old.body.prefix})` });
    await rollButton.click();
    const dialog = page.getByRole("dialog", { name: `Roll ${old.body.prefix}?` });
    await dialog.waitFor();
    expect(await focusedText()).toBe("Cancel");
    expect(await dialog.getByLabel("Overlap", { exact: true }).inputValue()).toBe("0");
    await checkScreen("12-roll-dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Roll");
    expect((await api("/v1/limits", old.body.secret)).status).toBe(200);

    await rollButton.click();
    await dialog.getByRole("button", { name: "Roll key" }).click();
    const secretDialog = page.getByRole("dialog", { name: "Issue an API key" });
    await secretDialog.getByRole("heading", { name: "Key rolled" }).waitFor();
    expect(await secretDialog.innerText()).toContain("Copy this key now. It won't be shown again.");
    const secret = await secretDialog.getByLabel(/^Secret of/).inputValue();
    expect(secret).toMatch(new RegExp(`^${KEY_PATTERN.source}$`));
    const prefix = await secretDialog.locator("#issued-prefix").innerText();
    expect(prefix).not.toBe(old.body.prefix);
    await page.locator("#announcer").filter({ hasText: `Key ${prefix} rolled.` }).waitFor();
    await checkScreen("13-rolled-secret");

    const refused = await api("/v1/limits", old.body.secret);
    expect(refused.status).toBe(401);
    expect((await api("/v1/limits", secret)).status).toBe(200);

    await secretDialog.getByRole("button", { name: "I have saved it" }).click();
    await secretDialog.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Issue key");
    expect(await pageText()).not.toContain(secret);
    await oldRow.waitFor({ state: "detached" });
    const cells = await page.getByRole("row", { name: new RegExp(prefix) }).locator("th, td").allInnerTexts();
    expect(cells[1]).toBe("roll-e2e");
  });

  it("shows the API's refusal in the roll dialog, and keeps it open", async () => {
    const target = await api("/v1/api-keys", firstKey.secret, { method: "POST", body: JSON.stringify({ name: "gone-e2e" }) });
    expect(target.status).toBe(201);
    await page.reload();
    const row = page.getByRole("row", { name: new RegExp(target.body.prefix) });
    await row.getByRole("button", { name: `Roll gone-e2e (${target.body.prefix})` }).click();
    const dialog = page.getByRole("dialog", { name: `Roll ${target.body.prefix}?` });
    await dialog.waitFor();
    // Revoked elsewhere while the dialog is open.
    expect((await api(`/v1/api-keys/${target.body.id}`, firstKey.secret, { method: "DELETE" })).status).toBe(204);
    await dialog.getByLabel("Overlap", { exact: true }).selectOption({ label: "1 day" });
    await dialog.getByRole("button", { name: "Roll key" }).click();
    await dialog.locator("#roll-error").filter({ hasText: "api_key_not_active" }).waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
  });

  it("rolls the signed-in key with no overlap: shows its new secret, then signs out", async () => {
    const own = page.getByRole("row", { name: new RegExp(firstKey.prefix) });
    await own.getByRole("button", { name: /^Roll / }).click();
    const dialog = page.getByRole("dialog", { name: `Roll ${firstKey.prefix}?` });
    expect(await dialog.innerText()).toContain("the key you signed in with (with no overlap you will be signed out");
    await dialog.getByRole("button", { name: "Roll key" }).click();
    const secretDialog = page.getByRole("dialog", { name: "Issue an API key" });
    await secretDialog.getByRole("heading", { name: "Key rolled" }).waitFor();
    const secret = await secretDialog.getByLabel(/^Secret of/).inputValue();
    const prefix = await secretDialog.locator("#issued-prefix").innerText();
    // Still signed in while the secret is on screen: closing the dialog is what signs out.
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
    await secretDialog.getByRole("button", { name: "I have saved it" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(await page.locator("#sign-in-error").innerText()).toContain("the key you signed in with was rolled");
    expect(await focusedId()).toBe("sign-in-key");
    expect(await inPage("sessionStorage.length")).toBe(0);
    expect(await pageText()).not.toContain(secret);
    expect((await api("/v1/limits", firstKey.secret)).status).toBe(401);

    await page.getByLabel("API key", { exact: true }).fill(secret);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("row", { name: new RegExp(prefix) }).waitFor();
    const rolled = (await api("/v1/api-keys", secret)).body.find((key: { prefix: string }) => key.prefix === prefix);
    firstKey = { id: rolled.id, prefix, secret };
  });

  it("signs out when the API refuses the key it signed in with, and fetched nothing from elsewhere", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    const own = page.getByRole("row", { name: new RegExp(firstKey.prefix) });
    await own.getByRole("button", { name: /^Revoke / }).click();
    const confirm = page.getByRole("dialog", { name: `Revoke ${firstKey.prefix}?` });
    expect(await confirm.innerText()).toContain("the key you signed in with (you will be signed out)");
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.locator("#sign-in-error").filter({ hasText: "auth_expired" }).waitFor();
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(false);
    expect(await page.getByRole("table").count()).toBe(0);
    expect(await inPage("sessionStorage.length")).toBe(0);
    await checkScreen("10-signed-out");

    const origin = new URL(server.baseUrl).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    // The only console errors are the browser reporting the API's refusals (400, 401, 409) we caused.
    expect(consoleProblems.filter((text) => !/status of (400|401|409)/.test(text))).toEqual([]);
    // The server logged paths and prefixes, never a key.
    expect(serverLog).not.toMatch(KEY_PATTERN);
    expect(serverLog).toContain("/v1/api-keys");
  });
});
