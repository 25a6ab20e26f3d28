import type { ApiKey, Instance } from "@whatisup/client";
import { keyStatus } from "../format/human-readable.js";
import { announce, byId, cell, element, timeElement } from "./dom.js";
import { Modal } from "./modal.js";
import { PagedTable } from "./paged-table.js";
import { describeFailure, type Session } from "./session.js";

/** The instances table, the "create a sandbox instance" dialog and the delete confirmation. */
export class InstancesView {
  private readonly table: PagedTable<Instance>;
  private readonly createDialog: Modal;
  private readonly deleteDialog: Modal;
  /** The active keys by the instance they are bound to; null when the signed-in key may not list keys. */
  private boundKeys: Map<string, ApiKey[]> | null = null;
  private deleting: Instance | null = null;

  constructor(private readonly session: Session) {
    this.table = new PagedTable({
      ids: { table: "instances-table", empty: "instances-empty", error: "instances-error", more: "instances-more" },
      fetchPage: (cursor) => session.call((client) => client.GET("/v1/instances", { params: { query: cursor ? { cursor } : {} } })),
      row: (instance) => this.row(instance),
    });
    const title = () => byId("instances-title");
    this.createDialog = new Modal("instance-create-dialog", title);
    this.deleteDialog = new Modal("instance-delete-dialog", title, () => (this.deleting = null));

    byId("instance-create-open").addEventListener("click", (event) => this.openCreateDialog(event.currentTarget as HTMLElement));
    byId("instance-create-cancel").addEventListener("click", () => this.createDialog.close());
    byId<HTMLFormElement>("instance-create-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.create();
    });
    byId("instance-create-form").addEventListener("input", () => (byId("instance-create-error").textContent = ""));
    byId("instance-delete-cancel").addEventListener("click", () => this.deleteDialog.close());
    byId("instance-delete-confirm").addEventListener("click", () => void this.delete());
  }

  async load(): Promise<void> {
    // A key without api_keys:read still manages instances: the counts show a dash then.
    this.boundKeys = await this.activeKeysByInstance().catch(() => null);
    await this.table.load();
    await this.showOwnInstance();
  }

  /**
   * A key bound to an instance may not list instances (the table shows the API's refusal), but it
   * reads its own instance's messages: the way there is a link, the only one it would have.
   */
  private async showOwnInstance(): Promise<void> {
    const key = await this.session.currentKey().catch(() => null);
    const ownInstance = key?.instance_id ?? null;
    byId("instances-bound").hidden = ownInstance === null;
    if (ownInstance !== null) byId<HTMLAnchorElement>("instances-bound-link").href = `#messages/${ownInstance}`;
  }

  private async activeKeysByInstance(): Promise<Map<string, ApiKey[]>> {
    const keys = await this.session.call((client) => client.GET("/v1/api-keys"));
    const byInstance = new Map<string, ApiKey[]>();
    for (const key of keys) {
      if (key.instance_id === null || keyStatus(key) !== "active") continue;
      byInstance.set(key.instance_id, [...(byInstance.get(key.instance_id) ?? []), key]);
    }
    return byInstance;
  }

  private row(instance: Instance): HTMLTableRowElement {
    const remove = element(
      "button",
      { type: "button", class: "link-danger", "aria-label": `Delete ${instance.name} (${instance.id})` },
      "Delete",
    );
    remove.addEventListener("click", () => void this.openDeleteDialog(instance, remove));
    const messages = element(
      "a",
      { href: `#messages/${instance.id}`, class: "row-link", "aria-label": `Messages of ${instance.name}` },
      "Messages",
    );
    const tone = instance.status === "connected" ? "badge ok" : instance.status === "failed" ? "badge bad" : "badge";
    return element(
      "tr",
      { "data-instance-id": instance.id },
      element("th", { scope: "row" }, instance.name),
      cell(instance.transport),
      cell(element("span", { class: tone }, instance.status)),
      cell(instance.phone_number ?? "—"),
      cell(this.boundKeys === null ? "—" : String(this.boundKeys.get(instance.id)?.length ?? 0)),
      cell(timeElement(instance.created_at)),
      cell(element("span", { class: "mono" }, instance.id)),
      element("td", { class: "row-actions" }, messages, remove),
    );
  }

  private openCreateDialog(opener: HTMLElement): void {
    byId<HTMLFormElement>("instance-create-form").reset();
    byId("instance-create-error").textContent = "";
    this.createDialog.open(opener, byId("instance-name"));
  }

  private async create(): Promise<void> {
    const name = byId<HTMLInputElement>("instance-name").value.trim();
    const error = byId("instance-create-error");
    if (name === "") {
      error.textContent = "Give the instance a name.";
      byId("instance-name").focus();
      return;
    }
    const submit = byId<HTMLButtonElement>("instance-create-submit");
    submit.disabled = true;
    try {
      const instance = await this.session.call((client) => client.POST("/v1/instances", { body: { name, transport: "sandbox" } }));
      this.createDialog.close();
      announce(`Instance ${instance.name} created.`);
      await this.load();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      submit.disabled = false;
    }
  }

  /**
   * Counts the keys the delete would revoke as the dialog opens, not from the table: a key may
   * have been issued since the table loaded. Delete waits for the count.
   */
  private async openDeleteDialog(instance: Instance, opener: HTMLElement): Promise<void> {
    this.deleting = instance;
    byId("instance-delete-name").textContent = instance.name;
    byId("instance-delete-error").textContent = "";
    const summary = byId("instance-delete-keys");
    const list = byId("instance-delete-key-list");
    const confirm = byId<HTMLButtonElement>("instance-delete-confirm");
    summary.textContent = "Counting the API keys bound to it…";
    list.replaceChildren();
    confirm.disabled = true;
    // Cancel first: deleting revokes keys, and cannot be undone.
    this.deleteDialog.open(opener, byId("instance-delete-cancel"));
    const bound = await this.activeKeysByInstance().then(
      (byInstance) => byInstance.get(instance.id) ?? [],
      () => null,
    );
    if (this.deleting !== instance) return;
    summary.textContent = boundKeysSummary(bound);
    list.replaceChildren(
      ...(bound ?? []).map((key) => element("li", {}, element("span", { class: "mono" }, key.prefix), ` ${key.name}`)),
    );
    confirm.disabled = false;
  }

  private async delete(): Promise<void> {
    const instance = this.deleting;
    if (instance === null) return;
    const confirm = byId<HTMLButtonElement>("instance-delete-confirm");
    confirm.disabled = true;
    try {
      await this.session.call((client) => client.DELETE("/v1/instances/{id}", { params: { path: { id: instance.id } } }));
      // Its row, which opened the dialog, goes as the table reloads.
      this.deleteDialog.close(byId("instances-title"));
      announce(`Instance ${instance.name} deleted.`);
      await this.load();
    } catch (refusal) {
      byId("instance-delete-error").textContent = describeFailure(refusal);
    } finally {
      confirm.disabled = false;
    }
  }
}

function boundKeysSummary(bound: ApiKey[] | null): string {
  if (bound === null) {
    return "Every API key bound to it is revoked too. The key you signed in with may not list keys, so they could not be counted.";
  }
  if (bound.length === 0) return "No API key is bound to it: deleting it revokes none.";
  return `Deleting it revokes the ${bound.length === 1 ? "API key" : `${bound.length} API keys`} bound to it, for good:`;
}
