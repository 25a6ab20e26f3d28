import type { Instance, WebhookEndpoint } from "@whatisup/client";
import { announce, byId, cell, copySecret, element, timeElement } from "./dom.js";
import { EVENT_TYPES, type SubscribedEvent } from "./events.js";
import { Modal } from "./modal.js";
import { PagedTable } from "./paged-table.js";
import { describeFailure, type Session } from "./session.js";

const ALL_EVENTS = "*" satisfies SubscribedEvent;

/** The webhook endpoints table, the "add endpoint" dialog with its secret shown once, and the delete confirmation. */
export class WebhooksView {
  private readonly table: PagedTable<WebhookEndpoint>;
  private readonly endpointDialog: Modal;
  private readonly deleteDialog: Modal;
  private instances: Instance[] = [];
  private deleting: WebhookEndpoint | null = null;

  constructor(private readonly session: Session) {
    this.table = new PagedTable({
      ids: { table: "webhooks-table", empty: "webhooks-empty", error: "webhooks-error", more: "webhooks-more" },
      fetchPage: (cursor) =>
        session.call((client) => client.GET("/v1/webhook-endpoints", { params: { query: cursor ? { cursor } : {} } })),
      row: (endpoint) => this.row(endpoint),
    });
    const title = () => byId("webhooks-title");
    // However the dialog closes (Escape too), the secret leaves the page with it.
    this.endpointDialog = new Modal("endpoint-dialog", title, () => forgetSecret());
    this.deleteDialog = new Modal("endpoint-delete-dialog", title, () => (this.deleting = null));

    byId("endpoint-create-open").addEventListener("click", (event) => this.openCreateDialog(event.currentTarget as HTMLElement));
    byId("endpoint-cancel").addEventListener("click", () => this.endpointDialog.close());
    byId<HTMLFormElement>("endpoint-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.create();
    });
    byId("endpoint-form").addEventListener("input", () => (byId("endpoint-error").textContent = ""));
    byId("endpoint-copy").addEventListener("click", () => void copySecret("endpoint-secret", "endpoint-copy-status", "secret"));
    byId("endpoint-done").addEventListener("click", () => {
      // Before closing: the `close` event comes a task later, and the secret goes now.
      forgetSecret();
      this.endpointDialog.close();
    });
    byId("endpoint-delete-cancel").addEventListener("click", () => this.deleteDialog.close());
    byId("endpoint-delete-confirm").addEventListener("click", () => void this.delete());
  }

  async load(): Promise<void> {
    this.instances = await this.session
      .call((client) => client.GET("/v1/instances", { params: { query: { limit: 100 } } }))
      .then((page) => page.data)
      // Without instances:read the table shows instance ids, and new endpoints get every instance's events.
      .catch(() => [] as Instance[]);
    await this.table.load();
  }

  private row(endpoint: WebhookEndpoint): HTMLTableRowElement {
    const remove = element(
      "button",
      { type: "button", class: "link-danger", "aria-label": `Delete the endpoint ${endpoint.url}` },
      "Delete",
    );
    remove.addEventListener("click", () => this.openDeleteDialog(endpoint, remove));
    return element(
      "tr",
      { "data-endpoint-id": endpoint.id },
      element("th", { scope: "row", class: "mono url" }, endpoint.url),
      cell(
        element(
          "ul",
          { class: "scope-list" },
          ...endpoint.events.map((event) => element("li", { class: "badge mono" }, event === ALL_EVENTS ? "all events" : event)),
        ),
      ),
      cell(endpoint.instance_id === null ? "all instances" : this.instanceName(endpoint.instance_id)),
      cell(timeElement(endpoint.created_at)),
      element("td", { class: "row-actions" }, remove),
    );
  }

  private instanceName(id: string): string {
    return this.instances.find((instance) => instance.id === id)?.name ?? id;
  }

  private openCreateDialog(opener: HTMLElement): void {
    const form = byId<HTMLFormElement>("endpoint-form");
    form.reset();
    form.hidden = false;
    byId("endpoint-created").hidden = true;
    byId("endpoint-error").textContent = "";
    byId("endpoint-instance").replaceChildren(
      element("option", { value: "" }, "All instances"),
      ...this.instances.map((instance) => element("option", { value: instance.id }, `${instance.name} (${instance.id})`)),
    );
    byId("endpoint-events").replaceChildren(
      ...[ALL_EVENTS, ...EVENT_TYPES].map((event) =>
        element(
          "label",
          {},
          element("input", { type: "checkbox", name: "event", value: event }),
          element("span", { class: "mono" }, event === ALL_EVENTS ? "* (all events, present and future)" : event),
        ),
      ),
    );
    this.endpointDialog.open(opener, byId("endpoint-url"));
  }

  private async create(): Promise<void> {
    const url = byId<HTMLInputElement>("endpoint-url").value.trim();
    const error = byId("endpoint-error");
    if (url === "") {
      error.textContent = "Give the endpoint's URL.";
      byId("endpoint-url").focus();
      return;
    }
    const checked = [...document.querySelectorAll<HTMLInputElement>("#endpoint-events input:checked")].map(
      (box) => box.value as SubscribedEvent,
    );
    if (checked.length === 0) {
      error.textContent = "Choose at least one event.";
      document.querySelector<HTMLInputElement>("#endpoint-events input")?.focus();
      return;
    }
    // "*" already holds every other event.
    const events: SubscribedEvent[] = checked.includes(ALL_EVENTS) ? [ALL_EVENTS] : checked;
    const instanceId = byId<HTMLSelectElement>("endpoint-instance").value;
    const submit = byId<HTMLButtonElement>("endpoint-submit");
    submit.disabled = true;
    try {
      const created = await this.session.call((client) =>
        client.POST("/v1/webhook-endpoints", { body: { url, events, ...(instanceId ? { instance_id: instanceId } : {}) } }),
      );
      byId("endpoint-form").hidden = true;
      byId("endpoint-created").hidden = false;
      byId("endpoint-created-url").textContent = created.url;
      // Absent only from an answer replayed for an Idempotency-Key, which the dashboard never sends.
      byId<HTMLInputElement>("endpoint-secret").value = created.secret ?? "";
      byId("endpoint-copy-status").textContent = "";
      byId("endpoint-created-title").focus();
      announce("Endpoint added. Copy its signing secret now: it won't be shown again.");
      void this.table.load();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      submit.disabled = false;
    }
  }

  private openDeleteDialog(endpoint: WebhookEndpoint, opener: HTMLElement): void {
    this.deleting = endpoint;
    byId("endpoint-delete-url").textContent = endpoint.url;
    byId("endpoint-delete-error").textContent = "";
    this.deleteDialog.open(opener, byId("endpoint-delete-cancel"));
  }

  private async delete(): Promise<void> {
    const endpoint = this.deleting;
    if (endpoint === null) return;
    const confirm = byId<HTMLButtonElement>("endpoint-delete-confirm");
    confirm.disabled = true;
    try {
      await this.session.call((client) => client.DELETE("/v1/webhook-endpoints/{id}", { params: { path: { id: endpoint.id } } }));
      this.deleteDialog.close(byId("webhooks-title"));
      announce(`Endpoint ${endpoint.url} deleted.`);
      await this.table.load();
    } catch (refusal) {
      byId("endpoint-delete-error").textContent = describeFailure(refusal);
    } finally {
      confirm.disabled = false;
    }
  }
}

/** The signing secret is shown once, not kept. */
function forgetSecret(): void {
  byId<HTMLInputElement>("endpoint-secret").value = "";
  byId("endpoint-created-url").textContent = "";
}
