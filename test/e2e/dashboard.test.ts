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
 * the API refuse it, read the audit log, create and delete instances, add and delete webhook
 * endpoints, filter deliveries, read one and retry it, read an instance's messages both ways and
 * send one and simulate an inbound one, issue a test-mode key with an allowlist, and roll keys
 * (the signed-in one too).
 *
 * Every screen is checked twice, at 1280 × 800 and at a phone's 390 × 844: axe finds nothing, the
 * page does not scroll sideways, and an open dialog's buttons are on screen and on top. Each is
 * kept as a screenshot at both sizes in test-artifacts/screenshots/.
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
const SCREENSHOTS = resolve(import.meta.dirname, "../../test-artifacts/screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
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

  async function screenshot(name: string, width: number): Promise<void> {
    await page.screenshot({ path: resolve(SCREENSHOTS, `${TEST_DIALECT}-${name}-${width}.png`), fullPage: true });
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

  /**
   * The buttons of the open dialog that a finger could not reach: not wholly inside the viewport,
   * or covered by something else at their centre. Buttons of a hidden part of the dialog are skipped.
   */
  function unreachableDialogButtons(): Promise<string[]> {
    return inPage(`[...document.querySelectorAll("dialog[open] button")]
      .filter((button) => button.getClientRects().length > 0)
      .filter((button) => {
        const box = button.getBoundingClientRect();
        const inside = box.left >= 0 && box.top >= 0 && box.right <= innerWidth && box.bottom <= innerHeight;
        return !inside || !button.contains(document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2));
      })
      .map((button) => button.textContent + " at " + JSON.stringify(button.getBoundingClientRect()))`);
  }

  /**
   * Checks the screen as it is at 1280 × 800 and at 390 × 844, any dialog still open: at each size
   * the page does not scroll sideways, the open dialog's buttons can be reached, and axe finds
   * nothing. Keeps a screenshot of each size.
   */
  async function checkScreen(name: string): Promise<void> {
    try {
      for (const size of [DESKTOP, PHONE]) {
        await page.setViewportSize(size);
        const at = `${name} at ${size.width} px`;
        expect(await inPage<number>("document.documentElement.scrollWidth"), at).toBeLessThanOrEqual(size.width);
        expect(await unreachableDialogButtons(), at).toEqual([]);
        expect(await accessibilityViolations(), at).toEqual([]);
        await screenshot(name, size.width);
      }
    } finally {
      await page.setViewportSize(DESKTOP);
    }
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
      // Every screen spends a few tokens of the signed-in key, and the test's own API calls many
      // more: the per-key bucket is test/rate-limits.test.ts's, here it stays out of the way.
      RATE_LIMIT_BURST: "100000",
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
      viewport: DESKTOP,
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

  it("lists instances, creates a sandbox one, and deletes one after saying which bound keys it revokes", async () => {
    await page.getByRole("link", { name: "Instances" }).click();
    const table = page.getByRole("table", { name: "Instances, newest first" });
    const supportRow = table.locator(`tr[data-instance-id="${instance.id}"]`);
    await supportRow.waitFor();
    // name, transport, status, phone, bound keys, created, id; the key bound to it was revoked.
    expect((await supportRow.locator("th, td").allInnerTexts()).slice(0, 5)).toEqual(["support line", "sandbox", "connected", "—", "0"]);
    await checkScreen("09-instances");

    await page.getByRole("button", { name: "Create instance" }).click();
    const dialog = page.getByRole("dialog", { name: "Create a sandbox instance" });
    await dialog.waitFor();
    expect(await focusedId()).toBe("instance-name");
    await dialog.getByRole("button", { name: "Create instance" }).click();
    await dialog.locator("#instance-create-error").filter({ hasText: "Give the instance a name." }).waitFor();
    await dialog.getByLabel("Name", { exact: true }).fill("sales line");
    await checkScreen("10-create-instance");
    await dialog.getByRole("button", { name: "Create instance" }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Create instance");
    await page.locator("#announcer").filter({ hasText: "Instance sales line created." }).waitFor();
    const sales = (await api("/v1/instances", firstKey.secret)).body.data.find((each: { name: string }) => each.name === "sales line");
    expect(sales).toMatchObject({ transport: "sandbox", status: "connected" });

    // Two keys bound to it, one bound elsewhere, one unbound: the count is of the first two only.
    const bound = [];
    for (const name of ["sales-bot", "sales-report"]) {
      const key = await api("/v1/api-keys", firstKey.secret, { method: "POST", body: JSON.stringify({ name, instance_id: sales.id }) });
      expect(key.status).toBe(201);
      bound.push(key.body);
    }
    const elsewhere = await api("/v1/api-keys", firstKey.secret, {
      method: "POST",
      body: JSON.stringify({ name: "support-bot", instance_id: instance.id }),
    });
    const unbound = await api("/v1/api-keys", firstKey.secret, { method: "POST", body: JSON.stringify({ name: "unbound" }) });
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("link", { name: "Instances" }).click();
    const salesRow = table.locator(`tr[data-instance-id="${sales.id}"]`);
    await expect.poll(async () => (await salesRow.locator("td").nth(3).innerText())).toBe("2");
    expect(await supportRow.locator("td").nth(3).innerText()).toBe("1");

    const deleteButton = salesRow.getByRole("button", { name: `Delete sales line (${sales.id})` });
    await deleteButton.click();
    const confirm = page.getByRole("dialog", { name: "Delete sales line?" });
    await confirm.waitFor();
    expect(await focusedText()).toBe("Cancel");
    await confirm.getByText("Deleting it revokes the 2 API keys bound to it, for good:").waitFor();
    const listed = await confirm.locator("#instance-delete-key-list li").allInnerTexts();
    expect(listed.sort()).toEqual(bound.map((key) => `${key.prefix} ${key.name}`).sort());
    await checkScreen("11-delete-instance");
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Delete");
    expect((await api("/v1/limits", bound[0].secret)).status).toBe(200);

    await deleteButton.click();
    await confirm.getByText("Deleting it revokes the 2 API keys").waitFor();
    await confirm.getByRole("button", { name: "Delete instance" }).click();
    await confirm.waitFor({ state: "hidden" });
    await salesRow.waitFor({ state: "detached" });
    await page.locator("#announcer").filter({ hasText: "Instance sales line deleted." }).waitFor();
    await expect.poll(focusedId).toBe("instances-title");
    for (const key of bound) {
      const refused = await api("/v1/limits", key.secret);
      expect([refused.status, refused.body.error.code]).toEqual([401, "auth_expired"]);
    }
    expect((await api("/v1/limits", elsewhere.body.secret)).status).toBe(200);
    expect((await api("/v1/limits", unbound.body.secret)).status).toBe(200);
    const gone = await api(`/v1/instances/${sales.id}`, firstKey.secret);
    expect([gone.status, gone.body.error.code]).toEqual([404, "instance_not_found"]);
  });

  it("adds a webhook endpoint, shows its whsec_ secret once, and deletes it after a confirmation", async () => {
    await page.getByRole("link", { name: "Webhooks" }).click();
    const table = page.getByRole("table", { name: "Webhook endpoints, newest first" });
    const first = table.getByRole("row", { name: new RegExp(receiver.url()) });
    await first.waitFor();
    // url, events, instance, created
    expect((await first.locator("th, td").allInnerTexts()).slice(0, 3)).toEqual([receiver.url(), "instance.created", "all instances"]);
    await checkScreen("12-webhooks");

    await page.getByRole("button", { name: "Add endpoint" }).click();
    const dialog = page.getByRole("dialog", { name: "Add a webhook endpoint" });
    await dialog.waitFor();
    expect(await focusedId()).toBe("endpoint-url");
    const error = dialog.locator("#endpoint-error");
    await dialog.getByRole("button", { name: "Add endpoint" }).click();
    await error.filter({ hasText: "Give the endpoint's URL." }).waitFor();
    await dialog.getByLabel("URL", { exact: true }).fill("ftp://example.com/hooks");
    await dialog.getByRole("button", { name: "Add endpoint" }).click();
    await error.filter({ hasText: "Choose at least one event." }).waitFor();
    await dialog.getByRole("checkbox", { name: "message.sent" }).check();
    await dialog.getByRole("checkbox", { name: "message.failed" }).check();
    // The API's refusal, with its code and the field it names.
    await dialog.getByRole("button", { name: "Add endpoint" }).click();
    await error.filter({ hasText: "validation_failed" }).waitFor();
    expect(await error.innerText()).toContain("body.url");

    const url = receiver.url("/second");
    await dialog.getByLabel("URL", { exact: true }).fill(url);
    await dialog.getByLabel("Instance", { exact: true }).selectOption({ label: `${instance.name} (${instance.id})` });
    await checkScreen("13-add-endpoint");
    await dialog.getByRole("button", { name: "Add endpoint" }).click();
    await dialog.getByRole("heading", { name: "Endpoint added" }).waitFor();
    expect(await focusedId()).toBe("endpoint-created-title");
    expect(await dialog.innerText()).toContain("Copy this signing secret now. It won't be shown again.");
    const secret = await dialog.getByLabel(/^Signing secret of/).inputValue();
    expect(secret).toMatch(/^whsec_\S{20,}$/);
    await dialog.getByRole("button", { name: "Copy" }).click();
    await dialog.locator("#endpoint-copy-status").filter({ hasText: "Copied to the clipboard." }).waitFor();
    expect(await inPage("navigator.clipboard.readText()")).toBe(secret);
    await checkScreen("14-endpoint-secret");
    await dialog.getByRole("button", { name: "I have saved it" }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Add endpoint");
    expect(await pageText()).not.toContain(secret);

    const stored = (await api("/v1/webhook-endpoints", firstKey.secret)).body.data.find((each: { url: string }) => each.url === url);
    expect(stored).toMatchObject({ events: ["message.sent", "message.failed"], instance_id: instance.id });
    expect(stored).not.toHaveProperty("secret");
    const row = table.locator(`tr[data-endpoint-id="${stored.id}"]`);
    expect((await row.locator("th, td").allInnerTexts()).slice(0, 3)).toEqual([url, "message.sent\nmessage.failed", instance.name]);

    const deleteButton = row.getByRole("button", { name: `Delete the endpoint ${url}` });
    await deleteButton.click();
    const confirm = page.getByRole("dialog", { name: "Delete this webhook endpoint?" });
    await confirm.waitFor();
    expect(await focusedText()).toBe("Cancel");
    expect(await confirm.innerText()).toContain(url);
    await checkScreen("15-delete-endpoint");
    await page.keyboard.press("Escape");
    await confirm.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Delete");
    expect((await api(`/v1/webhook-endpoints/${stored.id}`, firstKey.secret)).status).toBe(200);

    await deleteButton.click();
    await confirm.getByRole("button", { name: "Delete endpoint" }).click();
    await confirm.waitFor({ state: "hidden" });
    await row.waitFor({ state: "detached" });
    await expect.poll(focusedId).toBe("webhooks-title");
    const gone = await api(`/v1/webhook-endpoints/${stored.id}`, firstKey.secret);
    expect([gone.status, gone.body.error.code]).toEqual([404, "webhook_endpoint_not_found"]);
  });

  /** The deliveries of instance.created: one per instance created, each failed once (503) and waiting 10 min. */
  let retrying: { id: string; instance_id: string }[];

  it("filters webhook deliveries by instance, status and event", async () => {
    const listRetrying = async () => (await api("/v1/webhook-deliveries?status=retrying", firstKey.secret)).body.data;
    await expect.poll(async () => (await listRetrying()).length, { timeout: 10_000 }).toBe(2);
    retrying = await listRetrying();
    await page.getByRole("link", { name: "Deliveries" }).click();
    const filters = page.getByRole("form", { name: "Filter deliveries" });
    const table = page.getByRole("table", { name: "Webhook deliveries matching the filters, newest first" });
    // All instances, any status, any event: both deliveries.
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);

    await filters.getByLabel("Instance", { exact: true }).selectOption({ label: instance.name });
    await filters.getByRole("button", { name: "Show deliveries" }).click();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    const cells = await table.locator("tbody tr").first().locator("th, td").allInnerTexts();
    // created, event, status, attempts, last response, last error, next attempt, endpoint
    expect(cells.slice(1, 5)).toEqual(["instance.created", "retrying", "1", "503"]);
    expect(cells[6]).toMatch(/^in \d+ min$/);
    // The endpoint by its URL, not its id.
    expect(cells[7]).toBe(receiver.url());

    await filters.getByLabel("Status", { exact: true }).selectOption("success");
    await filters.getByRole("button", { name: "Show deliveries" }).click();
    await page.getByText("No deliveries match these filters.").waitFor();

    await filters.getByLabel("Instance", { exact: true }).selectOption({ label: "All instances" });
    await filters.getByLabel("Status", { exact: true }).selectOption("retrying");
    await filters.getByLabel("Event", { exact: true }).selectOption("instance.deleted");
    await filters.getByRole("button", { name: "Show deliveries" }).click();
    await page.getByText("No deliveries match these filters.").waitFor();
    await filters.getByLabel("Event", { exact: true }).selectOption("instance.created");
    await filters.getByRole("button", { name: "Show deliveries" }).click();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    await checkScreen("16-deliveries");
  });

  it("shows a delivery's payload and attempts, and Retry now sends it again at once", async () => {
    const delivery = retrying.find((each) => each.instance_id === instance.id)!;
    const row = page.locator(`tr[data-delivery-id="${delivery.id}"]`);
    await row.getByRole("button", { name: /^Details of the instance\.created delivery/ }).click();
    const dialog = page.getByRole("dialog", { name: "Delivery of instance.created" });
    await dialog.waitFor();
    expect(await focusedId()).toBe("delivery-title");
    // The list knows the count; the attempt log comes with the delivery's detail, a moment later.
    const attemptRows = dialog.getByRole("region", { name: "Attempts of this delivery, oldest first" }).locator("tbody tr");
    const attemptCells = async () => Promise.all((await attemptRows.all()).map((each) => each.locator("td").allInnerTexts()));
    await expect.poll(() => attemptRows.count()).toBe(1);
    expect(await dialog.locator("#delivery-attempts").innerText()).toBe("1 attempt:");
    expect(await attemptCells()).toEqual([["1", expect.any(String), "HTTP 503", "failure", "HTTP 503", expect.stringMatching(/^\d+ ms$/)]]);
    const payload = JSON.parse(await dialog.locator("#delivery-payload").innerText());
    expect(payload).toMatchObject({ event: "instance.created", instance_id: instance.id, data: { instance: { name: "support line" } } });
    const facts = await dialog.locator("#delivery-facts").innerText();
    expect(facts).toContain(`${receiver.url()} (`);
    expect(facts).toContain(delivery.id);
    await checkScreen("17-delivery-detail");

    const before = receiver.requests.length;
    receiver.respondWith([200]);
    await dialog.getByRole("button", { name: "Retry now" }).click();
    await page.locator("#announcer").filter({ hasText: "Delivery queued for an attempt now." }).waitFor();
    await expect.poll(() => receiver.requests.length, { timeout: 10_000 }).toBeGreaterThan(before);
    // Refresh until the attempt is recorded.
    await expect
      .poll(
        async () => {
          await dialog.getByRole("button", { name: "Refresh" }).click();
          return dialog.locator("#delivery-facts .badge").innerText();
        },
        { timeout: 10_000 },
      )
      .toBe("success");
    expect(await dialog.locator("#delivery-attempts").innerText()).toBe("2 attempts, oldest first:");
    expect(await attemptCells()).toEqual([
      ["1", expect.any(String), "HTTP 503", "failure", "HTTP 503", expect.stringMatching(/^\d+ ms$/)],
      ["2", expect.any(String), "HTTP 200", "success", "", expect.stringMatching(/^\d+ ms$/)],
    ]);
    // Sent, it cannot be retried: the button is gone.
    expect(await dialog.getByRole("button", { name: "Retry now" }).count()).toBe(0);
    await checkScreen("18-delivery-retried");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    // The table reloaded after the retry, so the Details button that opened the dialog is gone.
    await expect.poll(focusedId).toBe("deliveries-title");
  });

  it("shows the API's refusal to retry a delivery that succeeded meanwhile", async () => {
    const delivery = retrying.find((each) => each.instance_id !== instance.id)!;
    await page.reload();
    const row = page.locator(`tr[data-delivery-id="${delivery.id}"]`);
    await row.getByRole("button", { name: /^Details of/ }).click();
    const dialog = page.getByRole("dialog", { name: "Delivery of instance.created" });
    await dialog.waitFor();
    // Retried elsewhere (the receiver now answers 200) while the dialog is open.
    expect((await api(`/v1/webhook-deliveries/${delivery.id}/retry`, firstKey.secret, { method: "POST" })).status).toBe(202);
    await expect
      .poll(async () => (await api(`/v1/webhook-deliveries/${delivery.id}`, firstKey.secret)).body.status, { timeout: 10_000 })
      .toBe("success");
    await dialog.getByRole("button", { name: "Retry now" }).click();
    await dialog.locator("#delivery-error").filter({ hasText: "delivery_not_retryable" }).waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await checkScreen("19-retry-refused");
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(focusedText).toBe("Details");
  });

  describe("an instance's messages", () => {
    const customer = "+15557654321";
    const recipient = "+15551234567";
    /** What a customer wrote, markup included: the page must show it as text. */
    const question = "Where is my order? <b>#4821</b>";
    let outbound: { id: string };
    let inbound: { id: string; created_at: string };

    const messagesTable = () =>
      page.getByRole("table", { name: "Messages sent and received by this instance, matching the filters, newest first" });
    const shownMessageIds = async () =>
      Promise.all((await messagesTable().locator("tbody tr").all()).map((row) => row.getAttribute("data-message-id")));
    /** The open message dialog's facts, term → value. */
    async function messageFacts(): Promise<Record<string, string>> {
      const dialog = page.locator("#message-dialog");
      const terms = await dialog.locator("dt").allInnerTexts();
      const values = await dialog.locator("dd").allInnerTexts();
      return Object.fromEntries(terms.map((term, index) => [term, values[index]!]));
    }

    beforeAll(async () => {
      const sent = await api(`/v1/instances/${instance.id}/messages`, firstKey.secret, {
        method: "POST",
        body: JSON.stringify({ type: "text", to: recipient, text: "Your order has shipped." }),
      });
      expect(sent.status).toBe(202);
      outbound = sent.body;
      const received = await api(`/v1/instances/${instance.id}/sandbox/inbound`, firstKey.secret, {
        method: "POST",
        body: JSON.stringify({ from: customer, text: question, reply_to: outbound.id }),
      });
      expect(received.status).toBe(201);
      inbound = received.body;
    });

    it("opens an instance's messages from the instances list: both ways, newest first, as text", async () => {
      await page.getByRole("link", { name: "Instances", exact: true }).click();
      const supportRow = page.locator(`tr[data-instance-id="${instance.id}"]`);
      await supportRow.getByRole("link", { name: "Messages of support line" }).click();
      await page.getByRole("heading", { name: "Messages of support line" }).waitFor();
      expect(new URL(page.url()).hash).toBe(`#messages/${instance.id}`);
      await expect.poll(focusedId).toBe("messages-title");
      // The menu still says where this screen belongs.
      expect(await page.getByRole("link", { name: "Instances", exact: true }).getAttribute("aria-current")).toBe("page");

      await expect.poll(shownMessageIds).toEqual([inbound.id, outbound.id]);
      const rows = messagesTable().locator("tbody tr");
      // time, direction, from, to, type, status, content, actions
      expect((await rows.nth(0).locator("th, td").allInnerTexts()).slice(1)).toEqual([
        "↓ in",
        customer,
        "—",
        "text",
        "received",
        question,
        "Details",
      ]);
      const sentCells = await rows.nth(1).locator("th, td").allInnerTexts();
      expect([...sentCells.slice(1, 5), ...sentCells.slice(6)]).toEqual(["↑ out", "—", recipient, "text", "Your order has shipped.", "Details"]);
      expect(["queued", "sent", "delivered", "read"]).toContain(sentCells[5]);
      expect(await messagesTable().locator("b").count()).toBe(0);
      await checkScreen("24-messages");
    });

    it("filters messages by direction and status", async () => {
      const filters = page.getByRole("form", { name: "Filter messages" });
      await filters.getByLabel("Direction", { exact: true }).selectOption("outbound");
      await filters.getByRole("button", { name: "Show messages" }).click();
      await expect.poll(shownMessageIds).toEqual([outbound.id]);
      await filters.getByLabel("Direction", { exact: true }).selectOption("inbound");
      await filters.getByRole("button", { name: "Show messages" }).click();
      await expect.poll(shownMessageIds).toEqual([inbound.id]);
      await filters.getByLabel("Direction", { exact: true }).selectOption({ label: "Both directions" });
      await filters.getByLabel("Status", { exact: true }).selectOption("failed");
      await filters.getByRole("button", { name: "Show messages" }).click();
      await page.getByText("No messages match these filters.").waitFor();
      expect(await shownMessageIds()).toEqual([]);
      await filters.getByLabel("Status", { exact: true }).selectOption({ label: "Any status" });
      await filters.getByRole("button", { name: "Show messages" }).click();
      await expect.poll(shownMessageIds).toEqual([inbound.id, outbound.id]);
    });

    it("shows every field of a message in its detail, and follows an outbound one's status with Refresh", async () => {
      const inboundRow = page.locator(`tr[data-message-id="${inbound.id}"]`);
      await inboundRow.getByRole("button", { name: `Details of the inbound text message of ${inbound.created_at}` }).click();
      const dialog = page.getByRole("dialog", { name: "Inbound text message" });
      await dialog.waitFor();
      expect(await focusedId()).toBe("message-title");
      await expect.poll(async () => (await messageFacts())["Updated"]).toMatch(/^\d{4}-\d\d-\d\dT.*Z \(/);
      expect(await messageFacts()).toMatchObject({
        Direction: "↓ in",
        Status: "received",
        From: customer,
        To: "—",
        Type: "text",
        Text: question,
        Error: "none",
        "In reply to": outbound.id,
        Sent: "—",
        Read: "—",
        "Message id": inbound.id,
        "Instance id": instance.id,
      });
      expect((await messageFacts())["Received"]).toMatch(/^\d{4}-\d\d-\d\dT.*Z \(/);
      await checkScreen("25-message-detail");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      await expect.poll(focusedText).toBe("Details");

      const outboundRow = page.locator(`tr[data-message-id="${outbound.id}"]`);
      await outboundRow.getByRole("button", { name: /^Details of the outbound text message/ }).click();
      const sentDialog = page.getByRole("dialog", { name: "Outbound text message" });
      // The sandbox moves it one state a second: Refresh shows it as it stands.
      await expect
        .poll(
          async () => {
            await sentDialog.getByRole("button", { name: "Refresh" }).click();
            return (await messageFacts())["Status"];
          },
          { timeout: 10_000 },
        )
        .toBe("read");
      const facts = await messageFacts();
      for (const state of ["Sent", "Delivered", "Read"]) expect(facts[state], state).toMatch(/^\d{4}-\d\d-\d\dT.*Z \(/);
      expect(facts).toMatchObject({ Direction: "↑ out", To: recipient, Failed: "—", Received: "—", "In reply to": "—" });
      await sentDialog.getByRole("button", { name: "Close" }).click();
      await sentDialog.waitFor({ state: "hidden" });
    });

    it("sends a text and a template from the dialog, and shows the API's refusal naming the field", async () => {
      await page.locator("#messages").getByRole("button", { name: "Send message" }).click();
      const dialog = page.getByRole("dialog", { name: "Send a message" });
      await dialog.waitFor();
      expect(await focusedId()).toBe("message-send-to");
      await dialog.getByRole("button", { name: "Send message" }).click();
      await dialog.locator("#message-send-error").filter({ hasText: "Give the recipient's number." }).waitFor();

      await dialog.getByLabel("To", { exact: true }).fill(recipient);
      await dialog.getByLabel("Type", { exact: true }).selectOption("image");
      expect(await dialog.getByLabel("Caption (optional)").isVisible()).toBe(true);
      expect(await dialog.getByLabel("File name (optional)").isVisible()).toBe(false);
      await dialog.getByLabel("File URL", { exact: true }).fill("ftp://files.example/cat.png");
      await dialog.getByRole("button", { name: "Send message" }).click();
      const error = dialog.locator("#message-send-error");
      await error.filter({ hasText: "validation_failed" }).waitFor();
      expect(await error.innerText()).toContain("body.media.url");
      await checkScreen("26-send-refused");

      await dialog.getByLabel("Type", { exact: true }).selectOption("text");
      await dialog.getByLabel("Text", { exact: true }).fill("Thanks! It arrives tomorrow.");
      await dialog.getByRole("button", { name: "Send message" }).click();
      await dialog.waitFor({ state: "hidden" });
      await page.locator("#announcer").filter({ hasText: `Message to ${recipient} queued.` }).waitFor();
      await expect.poll(focusedText).toBe("Send message");
      const listed = await api(`/v1/instances/${instance.id}/messages?direction=outbound&limit=1`, firstKey.secret);
      expect(listed.body.data[0]).toMatchObject({ direction: "outbound", to: recipient, type: "text", text: "Thanks! It arrives tomorrow." });
      await expect.poll(async () => (await shownMessageIds())[0]).toBe(listed.body.data[0].id);

      await page.locator("#messages").getByRole("button", { name: "Send message" }).click();
      await dialog.getByLabel("To", { exact: true }).fill(recipient);
      await dialog.getByLabel("Type", { exact: true }).selectOption("template");
      await dialog.getByLabel("Template name", { exact: true }).fill("order_shipped");
      await dialog.getByLabel("Language", { exact: true }).fill("en_US");
      await dialog.getByRole("button", { name: "Send message" }).click();
      await dialog.waitFor({ state: "hidden" });
      const row = messagesTable().locator("tbody tr").first();
      await row.filter({ hasText: "order_shipped (en_US)" }).waitFor();
      expect((await row.locator("td").allInnerTexts()).slice(0, 4)).toEqual(["↑ out", "—", recipient, "template"]);
    });

    it("simulates an inbound message on a sandbox instance, its media URL shown as text", async () => {
      await page.getByRole("button", { name: "Simulate inbound" }).click();
      const dialog = page.getByRole("dialog", { name: "Simulate an inbound message" });
      await dialog.waitFor();
      expect(await focusedId()).toBe("message-inbound-from");
      await dialog.getByLabel("From", { exact: true }).fill("12345");
      await dialog.getByLabel("Text", { exact: true }).fill("Hello?");
      await dialog.getByRole("button", { name: "Receive message" }).click();
      const error = dialog.locator("#message-inbound-error");
      await error.filter({ hasText: "validation_failed" }).waitFor();
      expect(await error.innerText()).toContain("body.from");

      await dialog.getByLabel("From", { exact: true }).fill(customer);
      await dialog.getByLabel("Type", { exact: true }).selectOption("image");
      await dialog.getByLabel("File URL", { exact: true }).fill("https://media.example/cat.jpg");
      await checkScreen("27-simulate-inbound");
      await dialog.getByRole("button", { name: "Receive message" }).click();
      await dialog.waitFor({ state: "hidden" });
      await page.locator("#announcer").filter({ hasText: `Message from ${customer} received.` }).waitFor();
      await expect.poll(focusedText).toBe("Simulate inbound");

      const row = messagesTable().locator("tbody tr").first();
      await row.filter({ hasText: "https://media.example/cat.jpg" }).waitFor();
      expect((await row.locator("td").allInnerTexts()).slice(0, 5)).toEqual(["↓ in", customer, "—", "image", "received"]);
      expect(await row.locator("a").count()).toBe(0);
      await row.getByRole("button", { name: /^Details of the inbound image message/ }).click();
      const detail = page.getByRole("dialog", { name: "Inbound image message" });
      await detail.waitFor();
      expect(await messageFacts()).toMatchObject({ "Media URL": "https://media.example/cat.jpg", Caption: "—", Type: "image" });
      expect(await detail.locator("a").count()).toBe(0);
      await detail.getByRole("button", { name: "Close" }).click();
      await detail.waitFor({ state: "hidden" });
      expect(requested.filter((url) => url.includes("media.example"))).toEqual([]);
    });

    it("takes a key bound to the instance from the instances screen, which it may not list, to its messages", async () => {
      const bound = await api("/v1/api-keys", firstKey.secret, {
        method: "POST",
        body: JSON.stringify({ name: "messages-bot", instance_id: instance.id }),
      });
      expect(bound.status).toBe(201);
      const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
      try {
        const tab = await phone.newPage();
        tab.setDefaultTimeout(5_000);
        tab.on("request", (request) => requested.push(request.url()));
        await tab.goto(`${server.baseUrl}/dashboard#instances`);
        await tab.getByLabel("API key", { exact: true }).fill(bound.body.secret);
        await tab.getByRole("button", { name: "Sign in" }).tap();
        await tab.locator("#instances-error").filter({ hasText: "instance_scoped_key" }).waitFor();
        await tab.getByRole("link", { name: "its messages" }).tap();
        await tab.getByRole("heading", { name: "Messages of support line" }).waitFor();
        await tab.locator(`tr[data-message-id="${inbound.id}"]`).waitFor();
        expect(await tab.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(PHONE.width);
      } finally {
        await phone.close();
      }
    });
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
    await checkScreen("20-issue-test-mode");
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
    await checkScreen("21-roll-dialog");
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
    await checkScreen("22-rolled-secret");

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

  it("works on a phone's touch screen: each section from the menu, nothing scrolls sideways, a dialog's buttons answer taps", async () => {
    // A real phone's viewport follows the page's <meta name="viewport">, and a page wider than
    // the screen would widen it: fixed dialogs would then open partly off-screen.
    const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const tab = await phone.newPage();
      tab.setDefaultTimeout(5_000);
      tab.on("request", (request) => requested.push(request.url()));
      await tab.goto(`${server.baseUrl}/dashboard`);
      await tab.getByLabel("API key", { exact: true }).fill(firstKey.secret);
      await tab.getByRole("button", { name: "Sign in" }).tap();
      const sections = [
        ["Instances", "instances"],
        ["Webhooks", "webhooks"],
        ["Deliveries", "deliveries"],
        ["Audit log", "audit"],
        ["API keys", "keys"],
      ];
      for (const [link, id] of sections) {
        await tab.getByRole("link", { name: link, exact: true }).tap();
        await tab.locator(`#${id}-table tbody tr`).first().waitFor();
        expect(await tab.evaluate<number>("document.documentElement.scrollWidth"), link).toBeLessThanOrEqual(PHONE.width);
      }
      // Tapping checks that the button is on screen and that nothing covers it.
      await tab.getByRole("main").getByRole("button", { name: "Issue key" }).tap();
      const dialog = tab.getByRole("dialog", { name: "Issue an API key" });
      await dialog.getByRole("button", { name: "Issue key" }).tap();
      await dialog.locator("#issue-error").filter({ hasText: "Give the key a name." }).waitFor();
      await dialog.getByRole("button", { name: "Cancel" }).tap();
      await dialog.waitFor({ state: "hidden" });
    } finally {
      await phone.close();
    }
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
    await checkScreen("23-signed-out");

    const origin = new URL(server.baseUrl).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    // The only console errors are the browser reporting the API's refusals (400, 401, 409) we caused.
    expect(consoleProblems.filter((text) => !/status of (400|401|409)/.test(text))).toEqual([]);
    // The server logged paths and prefixes, never a key or a webhook signing secret.
    expect(serverLog).not.toMatch(KEY_PATTERN);
    expect(serverLog).not.toContain("whsec_");
    expect(serverLog).toContain("/v1/api-keys");
  });
});
