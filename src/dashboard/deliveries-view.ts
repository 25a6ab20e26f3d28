import type { WebhookDelivery, WebhookEndpoint } from "@whatisup/client";
import { badgeOf, DeliveryDetail } from "./delivery-detail.js";
import { byId, cell, element, timeElement } from "./dom.js";
import { DELIVERY_STATUSES, EVENT_TYPES, type DeliveryStatus, type EventType } from "./events.js";
import { PagedTable } from "./paged-table.js";
import { ApiRefusal, describeFailure, type Session } from "./session.js";

/** The customer's webhook deliveries, filtered by instance, status and event, each one's detail a click away. */
export class DeliveriesView {
  private readonly table: PagedTable<WebhookDelivery>;
  private readonly detail: DeliveryDetail;
  private endpoints = new Map<string, WebhookEndpoint>();

  constructor(private readonly session: Session) {
    this.table = new PagedTable({
      ids: { table: "deliveries-table", empty: "deliveries-empty", error: "deliveries-error", more: "deliveries-more" },
      fetchPage: (cursor) =>
        session.call((client) =>
          client.GET("/v1/webhook-deliveries", { params: { query: { ...this.filters(), ...(cursor ? { cursor } : {}) } } }),
        ),
      row: (delivery) => this.row(delivery),
    });
    this.detail = new DeliveryDetail(
      session,
      (id) => this.endpoints.get(id)?.url,
      () => void this.table.load(),
    );
    byId("deliveries-status").replaceChildren(
      element("option", { value: "" }, "Any status"),
      ...DELIVERY_STATUSES.map((status) => element("option", { value: status }, status)),
    );
    byId("deliveries-event").replaceChildren(
      element("option", { value: "" }, "Any event"),
      ...EVENT_TYPES.map((event) => element("option", { value: event }, event)),
    );
    byId<HTMLFormElement>("deliveries-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.table.load();
    });
  }

  /** Fills the instance picker and the endpoints' URLs, then shows the deliveries the filters match. */
  async load(): Promise<void> {
    const select = byId<HTMLSelectElement>("deliveries-instance");
    const chosen = select.value;
    try {
      const instances = (await this.session.call((client) => client.GET("/v1/instances", { params: { query: { limit: 100 } } }))).data;
      select.replaceChildren(
        element("option", { value: "" }, "All instances"),
        ...instances.map((instance) => element("option", { value: instance.id, selected: instance.id === chosen }, instance.name)),
      );
    } catch (failure) {
      if (!(failure instanceof ApiRefusal && failure.code === "instance_scoped_key")) {
        this.table.clear();
        byId("deliveries-error").textContent = describeFailure(failure);
        return;
      }
      // A bound key cannot list instances, and the API narrows its deliveries to its own.
      select.replaceChildren(element("option", { value: "" }, "This key's instance"));
    }
    const endpoints = await this.session
      .call((client) => client.GET("/v1/webhook-endpoints", { params: { query: { limit: 100 } } }))
      .then((page) => page.data)
      // Without webhooks:read (or bound to an instance), deliveries name their endpoint by id.
      .catch(() => [] as WebhookEndpoint[]);
    this.endpoints = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
    await this.table.load();
  }

  private row(delivery: WebhookDelivery): HTMLTableRowElement {
    const details = element(
      "button",
      { type: "button", class: "link", "aria-label": `Details of the ${delivery.event} delivery of ${delivery.created_at}` },
      "Details",
    );
    details.addEventListener("click", () => this.detail.open(delivery, details));
    const url = this.endpoints.get(delivery.endpoint_id)?.url;
    return element(
      "tr",
      { "data-delivery-id": delivery.id },
      cell(timeElement(delivery.created_at)),
      element("th", { scope: "row", class: "mono" }, delivery.event),
      cell(element("span", { class: `badge ${badgeOf(delivery.status)}` }, delivery.status)),
      cell(String(delivery.attempt_count)),
      cell(delivery.last_response_status === null ? "—" : String(delivery.last_response_status)),
      cell(delivery.last_error ?? "—"),
      cell(timeElement(delivery.next_attempt_at, "—")),
      element("td", { class: "mono url" }, url ?? delivery.endpoint_id),
      element("td", { class: "row-actions" }, details),
    );
  }

  /** The chosen filters; no instance for a bound key, whose deliveries are its instance's anyway. */
  private filters(): { instance_id?: string; status?: DeliveryStatus; event?: EventType } {
    const instanceId = byId<HTMLSelectElement>("deliveries-instance").value;
    const status = byId<HTMLSelectElement>("deliveries-status").value as DeliveryStatus | "";
    const event = byId<HTMLSelectElement>("deliveries-event").value as EventType | "";
    return {
      ...(instanceId ? { instance_id: instanceId } : {}),
      ...(status ? { status } : {}),
      ...(event ? { event } : {}),
    };
  }
}
