import { apiKeyUsage, SCOPES, type ApiKey, type Instance, type IssuedApiKey } from "@whatisup/client";
import { keyStatus } from "../format/human-readable.js";
import { announce, byId, cell, copySecret, element, fillTable, timeElement } from "./dom.js";
import { describeFailure, type Session } from "./session.js";
import { usageChart } from "./usage-chart.js";

/**
 * Each chart is one request, and each spends a token of the signed-in key: only the newest keys'
 * are drawn, so that opening the page leaves most of a default burst (60) to the rest.
 */
const CHARTED_KEYS = 10;
const DAY_MS = 86_400_000;

const ROLLED_OWN_KEY = "Signed out: the key you signed in with was rolled. Sign in with its new key.";

/** The keys table, the "issue key" dialog, the roll dialog and the revoke confirmation. */
export class KeysView {
  private instances: Instance[] = [];
  private revoking: ApiKey | null = null;
  private rolling: ApiKey | null = null;
  /**
   * Set once the signed-in key was rolled with no overlap: the session ends as the secret's
   * dialog closes, so the new secret can still be copied first.
   */
  private signOutOnClose = false;
  /** A rolled key's secret, between the roll dialog closing and the secret's dialog opening. */
  private rolled: IssuedApiKey | null = null;
  /** The button that opened a dialog, to give focus back to when it closes. */
  private opener: HTMLElement | null = null;

  constructor(
    private readonly session: Session,
    /** Ends the session and shows the sign-in screen with this message. */
    private readonly endSession: (message: string) => void,
  ) {
    byId("issue-open").addEventListener("click", (event) => this.openIssueDialog(event.currentTarget as HTMLElement));
    byId("issue-cancel").addEventListener("click", () => byId<HTMLDialogElement>("issue-dialog").close());
    byId<HTMLFormElement>("issue-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.issue();
    });
    // An error speaks of what was submitted: once the user changes the form, it no longer holds.
    byId("issue-form").addEventListener("input", () => (byId("issue-error").textContent = ""));
    byId("issued-copy").addEventListener("click", () => void copySecret("issued-secret", "issued-copy-status", "key"));
    byId("issued-done").addEventListener("click", () => {
      // Before closing: the dialog's `close` event comes a task later, and until then the
      // secret would still be in the page behind a dialog that is already gone.
      this.forgetSecret();
      byId<HTMLDialogElement>("issue-dialog").close();
    });
    byId("issue-dialog").addEventListener("close", () => {
      this.forgetSecret();
      if (this.signOutOnClose) {
        this.signOutOnClose = false;
        this.opener = null;
        this.endSession(ROLLED_OWN_KEY);
      } else {
        this.restoreFocus();
      }
    });
    byId("roll-cancel").addEventListener("click", () => byId<HTMLDialogElement>("roll-dialog").close());
    byId<HTMLFormElement>("roll-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.roll();
    });
    byId("roll-form").addEventListener("input", () => (byId("roll-error").textContent = ""));
    byId("roll-dialog").addEventListener("close", () => {
      const rolled = this.rolled;
      this.rolled = null;
      // Opened from here, as `close` comes a task after close(): opened earlier, this handler
      // would hand the focus back to the table behind the new dialog.
      if (rolled) this.openSecretDialog(rolled);
      else this.restoreFocus();
    });
    byId("revoke-cancel").addEventListener("click", () => byId<HTMLDialogElement>("revoke-dialog").close());
    byId("revoke-confirm").addEventListener("click", () => void this.revoke());
    byId("revoke-dialog").addEventListener("close", () => this.restoreFocus());
  }

  async load(): Promise<void> {
    const error = byId("keys-error");
    error.textContent = "";
    try {
      const [keys, instances] = await Promise.all([
        this.session.call((client) => client.GET("/v1/api-keys")),
        this.session
          .call((client) => client.GET("/v1/instances", { params: { query: { limit: 100 } } }))
          .then((page) => page.data)
          // A key without instances:read still manages keys; the table shows instance ids then.
          .catch(() => [] as Instance[]),
      ]);
      this.instances = instances;
      fillTable("keys-table", "keys-empty", keys.map((key) => this.row(key)));
      void this.drawUsage(keys.slice(0, CHARTED_KEYS));
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    }
  }

  private row(key: ApiKey): HTMLTableRowElement {
    const status = keyStatus(key);
    const current = key.prefix === this.session.prefix;
    const revoke = element(
      "button",
      { type: "button", class: "link-danger", "aria-label": `Revoke ${key.name} (${key.prefix})` },
      "Revoke",
    );
    revoke.addEventListener("click", () => this.openRevokeDialog(key, revoke));
    const roll = element("button", { type: "button", class: "link", "aria-label": `Roll ${key.name} (${key.prefix})` }, "Roll");
    roll.addEventListener("click", () => this.openRollDialog(key, roll));
    return element(
      "tr",
      { "data-key-id": key.id },
      element("th", { scope: "row", class: "mono" }, key.prefix, key.mode === "test" ? element("span", { class: "badge test" }, "test") : null),
      cell(key.name, current ? element("span", { class: "hint" }, " (this session)") : null),
      cell(key.instance_id === null ? "all instances" : this.instanceName(key.instance_id)),
      cell(element("ul", { class: "scope-list" }, ...(key.scopes ?? []).map((scope) => element("li", { class: "badge mono" }, scope)))),
      cell(timeElement(key.last_used_at)),
      cell(timeElement(key.expires_at)),
      cell(timeElement(key.created_at)),
      cell(element("span", { class: `badge ${status === "active" ? "ok" : "bad"}` }, status)),
      cell(
        key.allowed_ips === null
          ? "anywhere"
          : element("ul", { class: "scope-list" }, ...key.allowed_ips.map((entry) => element("li", { class: "badge mono" }, entry))),
      ),
      element("td", { "data-usage-for": key.id }, "…"),
      // One cell for both actions: the table's columns stay where they were.
      element("td", { class: "row-actions" }, roll, revoke),
    );
  }

  /** The last 7 UTC days of each key, today included; a refusal leaves a dash in its cell. */
  private async drawUsage(keys: ApiKey[]): Promise<void> {
    const from = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 6 * DAY_MS).toISOString();
    const cells = new Map<string, HTMLElement>();
    for (const node of document.querySelectorAll<HTMLElement>("[data-usage-for]")) cells.set(node.dataset.usageFor!, node);
    await Promise.all(
      keys.map(async (key) => {
        const chartCell = cells.get(key.id);
        if (!chartCell) return;
        try {
          chartCell.replaceChildren(usageChart(await this.session.call((client) => apiKeyUsage(client, key.id, { granularity: "day", from }))));
        } catch {
          chartCell.textContent = "—";
        }
      }),
    );
    for (const node of cells.values()) if (node.textContent === "…") node.textContent = "—";
  }

  private instanceName(id: string): string {
    return this.instances.find((instance) => instance.id === id)?.name ?? id;
  }

  private openIssueDialog(opener: HTMLElement): void {
    this.opener = opener;
    const form = byId<HTMLFormElement>("issue-form");
    form.reset();
    form.hidden = false;
    byId("issued").hidden = true;
    byId("issue-error").textContent = "";
    byId("issued-title").textContent = "Key issued";
    const mode = byId<HTMLSelectElement>("issue-mode");
    // Usually known since sign-in; if not, the choice follows when the answer comes.
    this.session.currentKey().then(
      (key) => (mode.value = key.mode),
      () => undefined,
    );
    byId<HTMLSelectElement>("issue-instance").replaceChildren(
      element("option", { value: "" }, "All instances (not bound)"),
      ...this.instances.map((instance) => element("option", { value: instance.id }, `${instance.name} (${instance.id})`)),
    );
    byId("issue-scopes").replaceChildren(
      ...SCOPES.map((scope) =>
        element("label", {}, element("input", { type: "checkbox", name: "scope", value: scope }), element("span", { class: "mono" }, scope)),
      ),
    );
    byId<HTMLDialogElement>("issue-dialog").showModal();
    byId("issue-name").focus();
  }

  private async issue(): Promise<void> {
    const name = byId<HTMLInputElement>("issue-name").value.trim();
    const error = byId("issue-error");
    if (name === "") {
      error.textContent = "Give the key a name.";
      byId("issue-name").focus();
      return;
    }
    const instanceId = byId<HTMLSelectElement>("issue-instance").value;
    const checked = new Set([...document.querySelectorAll<HTMLInputElement>("#issue-scopes input:checked")].map((box) => box.value));
    const scopes = SCOPES.filter((scope) => checked.has(scope));
    const expires = byId<HTMLInputElement>("issue-expires").value;
    const mode = byId<HTMLSelectElement>("issue-mode").value as "live" | "test";
    const allowedIps = byId<HTMLTextAreaElement>("issue-allowed-ips")
      .value.split(/[\s,]+/)
      .filter((entry) => entry !== "");
    const submit = byId<HTMLButtonElement>("issue-submit");
    submit.disabled = true;
    error.textContent = "";
    try {
      const issued = await this.session.call((client) =>
        client.POST("/v1/api-keys", {
          body: {
            name,
            ...(instanceId ? { instance_id: instanceId } : {}),
            ...(scopes.length > 0 ? { scopes } : {}),
            mode,
            // Left out, the API gives the new key the signed-in key's allowlist.
            ...(allowedIps.length > 0 ? { allowed_ips: allowedIps } : {}),
            // datetime-local is the user's local time; the API wants an instant.
            ...(expires ? { expires_at: new Date(expires).toISOString() } : {}),
          },
        }),
      );
      this.showSecret(issued, "issued");
      void this.load();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      submit.disabled = false;
    }
  }

  private showSecret(issued: IssuedApiKey, done: "issued" | "rolled"): void {
    byId("issue-form").hidden = true;
    byId("issued").hidden = false;
    byId("issued-prefix").textContent = issued.prefix;
    byId<HTMLInputElement>("issued-secret").value = issued.secret;
    byId("issued-copy-status").textContent = "";
    byId("issued-title").focus();
    announce(`Key ${issued.prefix} ${done}. Copy its secret now: it won't be shown again.`);
  }

  /** The secret leaves the page as the dialog closes: it is shown once, not kept. */
  private forgetSecret(): void {
    byId<HTMLInputElement>("issued-secret").value = "";
    byId("issued-prefix").textContent = "";
  }

  private openRevokeDialog(key: ApiKey, opener: HTMLElement): void {
    this.revoking = key;
    this.opener = opener;
    byId("revoke-prefix").textContent = key.prefix;
    byId("revoke-name").textContent =
      key.prefix === this.session.prefix ? `${key.name}, the key you signed in with (you will be signed out),` : key.name;
    byId("revoke-error").textContent = "";
    byId<HTMLDialogElement>("revoke-dialog").showModal();
    byId("revoke-cancel").focus();
  }

  private async revoke(): Promise<void> {
    const key = this.revoking;
    if (key === null) return;
    const confirm = byId<HTMLButtonElement>("revoke-confirm");
    confirm.disabled = true;
    try {
      await this.session.call((client) => client.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } }));
      this.opener = byId("issue-open");
      byId<HTMLDialogElement>("revoke-dialog").close();
      announce(`Key ${key.prefix} revoked.`);
      await this.load();
    } catch (refusal) {
      byId("revoke-error").textContent = describeFailure(refusal);
    } finally {
      confirm.disabled = false;
    }
  }

  private openRollDialog(key: ApiKey, opener: HTMLElement): void {
    this.rolling = key;
    this.opener = opener;
    byId<HTMLFormElement>("roll-form").reset();
    byId("roll-prefix").textContent = key.prefix;
    byId("roll-name").textContent =
      key.prefix === this.session.prefix
        ? `${key.name}, the key you signed in with (with no overlap you will be signed out once you have its new secret),`
        : key.name;
    byId("roll-error").textContent = "";
    byId<HTMLDialogElement>("roll-dialog").showModal();
    // Rolling with no overlap, the default, revokes: the safe default is not to.
    byId("roll-cancel").focus();
  }

  private async roll(): Promise<void> {
    const key = this.rolling;
    if (key === null) return;
    const overlap = Number(byId<HTMLSelectElement>("roll-overlap").value);
    const confirm = byId<HTMLButtonElement>("roll-confirm");
    confirm.disabled = true;
    try {
      const rolled = await this.session.call((client) =>
        client.POST("/v1/api-keys/{id}/roll", { params: { path: { id: key.id } }, body: { expires_in_seconds: overlap } }),
      );
      const ownKeyGone = key.prefix === this.session.prefix && overlap === 0;
      // The row that opened the dialog is replaced when the table reloads.
      this.opener = byId("issue-open");
      this.signOutOnClose = ownKeyGone;
      this.rolled = rolled;
      byId<HTMLDialogElement>("roll-dialog").close();
      // The signed-in key no longer works: reloading would only be refused.
      if (!ownKeyGone) void this.load();
    } catch (refusal) {
      byId("roll-error").textContent = describeFailure(refusal);
    } finally {
      confirm.disabled = false;
    }
  }

  /** The issue dialog's "shown once" panel, for a rolled key's secret. */
  private openSecretDialog(rolled: IssuedApiKey): void {
    byId("issue-form").hidden = true;
    byId("issued-title").textContent = "Key rolled";
    byId<HTMLDialogElement>("issue-dialog").showModal();
    this.showSecret(rolled, "rolled");
  }

  private restoreFocus(): void {
    if (this.opener?.isConnected) this.opener.focus();
    this.opener = null;
  }
}
