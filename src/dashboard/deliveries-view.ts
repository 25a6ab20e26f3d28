import type { Instance, WebhookDelivery } from "@whatisup/client";
import { byId, cell, element, timeElement } from "./dom.js";
import { PagedTable } from "./paged-table.js";
import { ApiRefusal, describeFailure, type Session } from "./session.js";

/** The webhook deliveries of one instance, chosen from the customer's instances. */
export class DeliveriesView {
  private readonly table: PagedTable<WebhookDelivery>;

  constructor(private readonly session: Session) {
    this.table = new PagedTable({
      ids: { table: "deliveries-table", empty: "deliveries-empty", error: "deliveries-error", more: "deliveries-more" },
      fetchPage: (cursor) =>
        session.call((client) =>
          client.GET("/v1/webhook-deliveries", {
            params: { query: { ...this.instanceFilter(), ...(cursor ? { cursor } : {}) } },
          }),
        ),
      row: (delivery) =>
        element(
          "tr",
          {},
          cell(timeElement(delivery.created_at)),
          element("th", { scope: "row", class: "mono" }, delivery.event),
          cell(element("span", { class: `badge ${badgeOf(delivery.status)}` }, delivery.status)),
          cell(String(delivery.attempt_count)),
          cell(delivery.last_response_status === null ? "—" : String(delivery.last_response_status)),
          cell(delivery.last_error ?? "—"),
          cell(timeElement(delivery.next_attempt_at, "—")),
          cell(element("span", { class: "mono" }, delivery.endpoint_id)),
        ),
    });
    byId<HTMLFormElement>("deliveries-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.table.load();
    });
  }

  /** Fills the instance picker, then shows the first instance's deliveries. */
  async load(): Promise<void> {
    const select = byId<HTMLSelectElement>("deliveries-instance");
    const chosen = select.value;
    let instances: Instance[];
    try {
      instances = (await this.session.call((client) => client.GET("/v1/instances", { params: { query: { limit: 100 } } }))).data;
    } catch (failure) {
      if (failure instanceof ApiRefusal && failure.code === "instance_scoped_key") {
        // A bound key cannot list instances, and the API narrows its deliveries to its own.
        select.replaceChildren(element("option", { value: "" }, "This key's instance"));
        await this.table.load();
        return;
      }
      this.table.clear();
      byId("deliveries-error").textContent = describeFailure(failure);
      return;
    }
    select.replaceChildren(
      ...instances.map((instance) => element("option", { value: instance.id, selected: instance.id === chosen }, instance.name)),
    );
    if (instances.length === 0) {
      this.table.clear();
      byId("deliveries-error").textContent = "There are no instances yet: deliveries belong to an instance.";
      return;
    }
    await this.table.load();
  }

  /** The chosen instance, or none for a bound key, whose deliveries are its instance's anyway. */
  private instanceFilter(): { instance_id?: string } {
    const instanceId = byId<HTMLSelectElement>("deliveries-instance").value;
    return instanceId ? { instance_id: instanceId } : {};
  }
}

function badgeOf(status: WebhookDelivery["status"]): string {
  if (status === "success") return "ok";
  if (status === "failed") return "bad";
  return "";
}
