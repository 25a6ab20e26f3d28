import type { AuditEvent } from "@whatisup/client";
import { byId, cell, element, timeElement } from "./dom.js";
import { PagedTable } from "./paged-table.js";
import type { Session } from "./session.js";

/** The customer's audit log, newest first. */
export class AuditView {
  private readonly table: PagedTable<AuditEvent>;

  constructor(session: Session) {
    this.table = new PagedTable({
      ids: { table: "audit-table", empty: "audit-empty", error: "audit-error", more: "audit-more" },
      fetchPage: (cursor) =>
        session.call((client) => client.GET("/v1/audit-events", { params: { query: cursor ? { cursor } : {} } })),
      row: (event) =>
        element(
          "tr",
          {},
          cell(timeElement(event.created_at)),
          element("th", { scope: "row", class: "mono" }, event.action),
          cell(event.actor.type === "api_key" ? element("span", { class: "mono" }, event.actor.prefix) : "command line"),
          cell(element("span", { class: "mono" }, `${event.target.type} ${event.target.id}`)),
          cell(event.ip ?? "—"),
          cell(element("span", { class: "mono" }, event.request_id ?? "—")),
        ),
    });
    byId("audit-refresh").addEventListener("click", () => void this.load());
  }

  load(): Promise<void> {
    return this.table.load();
  }
}
