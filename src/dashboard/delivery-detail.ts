import type { WebhookDelivery, WebhookDeliveryAttempt } from "@whatisup/client";
import { announce, byId, cell, element, timeElement } from "./dom.js";
import { Modal } from "./modal.js";
import { describeFailure, type Session } from "./session.js";

/** One delivery in a dialog: its facts, its attempts, its payload, and Retry now. */
export class DeliveryDetail {
  private readonly modal: Modal;
  private shown: WebhookDelivery | null = null;
  /** The shown delivery's attempt log; null until the detail has come. */
  private attempts: WebhookDeliveryAttempt[] | null = null;
  private readonly attemptsTable = attemptsTable();

  constructor(
    private readonly session: Session,
    /** An endpoint's URL, when the deliveries screen knows it. */
    private readonly endpointUrl: (id: string) => string | undefined,
    /** Called after a retry, so that the table behind shows the delivery as it now stands. */
    private readonly retried: () => void,
  ) {
    this.modal = new Modal("delivery-dialog", () => byId("deliveries-title"), () => (this.shown = null));
    byId("delivery-close").addEventListener("click", () => this.modal.close());
    byId("delivery-refresh").addEventListener("click", () => void this.refresh());
    byId("delivery-retry").addEventListener("click", () => void this.retry());
    byId("delivery-attempts").after(this.attemptsTable.region);
  }

  /** Shows what the list knows at once; the attempt log comes with the delivery's detail. */
  open(delivery: WebhookDelivery, opener: HTMLElement): void {
    this.attempts = null;
    this.show(delivery);
    byId("delivery-error").textContent = "";
    this.modal.open(opener, byId("delivery-title"));
    void this.load(delivery.id).catch((refusal: unknown) => (byId("delivery-error").textContent = describeFailure(refusal)));
  }

  /** Fetches the delivery with its attempts and shows it, if it is still the one shown (else null). */
  private async load(id: string): Promise<WebhookDelivery | null> {
    const fresh = await this.session.call((client) => client.GET("/v1/webhook-deliveries/{id}", { params: { path: { id } } }));
    if (this.shown?.id !== id) return null;
    const { attempts, ...delivery } = fresh;
    this.attempts = attempts;
    this.show(delivery);
    return delivery;
  }

  private show(delivery: WebhookDelivery): void {
    if (this.shown?.id !== delivery.id) this.attempts = null;
    this.shown = delivery;
    byId("delivery-event").textContent = delivery.event;
    const url = this.endpointUrl(delivery.endpoint_id);
    const facts: [string, Node | string][] = [
      ["Status", element("span", { class: `badge ${badgeOf(delivery.status)}` }, delivery.status)],
      ["Endpoint", element("span", { class: "mono" }, url ? `${url} (${delivery.endpoint_id})` : delivery.endpoint_id)],
      ["Instance", delivery.instance_id === null ? "none (an account event)" : element("span", { class: "mono" }, delivery.instance_id)],
      ["Created", timeElement(delivery.created_at)],
      ["Next attempt", timeElement(delivery.next_attempt_at, "none planned")],
      ["Delivered", timeElement(delivery.delivered_at, "not yet")],
      ["Event id", element("span", { class: "mono" }, delivery.event_id)],
      ["Delivery id", element("span", { class: "mono" }, delivery.id)],
    ];
    byId("delivery-facts").replaceChildren(...facts.flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
    byId("delivery-attempts").textContent = attemptsSummary(delivery, this.attempts);
    this.attemptsTable.region.hidden = this.attempts === null || this.attempts.length === 0;
    this.attemptsTable.body.replaceChildren(...(this.attempts ?? []).map(attemptRow));
    byId("delivery-payload").textContent = JSON.stringify(delivery.payload, null, 2);
    // A delivery that succeeded is not sent again (the API answers 409).
    byId("delivery-retry").hidden = delivery.status === "success";
  }

  private async refresh(): Promise<void> {
    const delivery = this.shown;
    if (delivery === null) return;
    const error = byId("delivery-error");
    error.textContent = "";
    try {
      const fresh = await this.load(delivery.id);
      if (fresh === null) return;
      announce(`Delivery ${fresh.status}, after ${fresh.attempt_count} ${fresh.attempt_count === 1 ? "attempt" : "attempts"}.`);
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    }
  }

  private async retry(): Promise<void> {
    const delivery = this.shown;
    if (delivery === null) return;
    const button = byId<HTMLButtonElement>("delivery-retry");
    const error = byId("delivery-error");
    button.disabled = true;
    error.textContent = "";
    try {
      const queued = await this.session.call((client) =>
        client.POST("/v1/webhook-deliveries/{id}/retry", { params: { path: { id: delivery.id } } }),
      );
      if (this.shown?.id === delivery.id) this.show(queued);
      announce("Delivery queued for an attempt now. Refresh to see how it went.");
      this.retried();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      button.disabled = false;
    }
  }
}

/** What the table below says in one sentence (or all there is to say, before any attempt). */
function attemptsSummary(delivery: WebhookDelivery, attempts: WebhookDeliveryAttempt[] | null): string {
  const count = delivery.attempt_count;
  if (count === 0) return "Not attempted yet.";
  const counted = `${count} ${count === 1 ? "attempt" : "attempts"}`;
  if (attempts === null) return `${counted}. Loading the attempt log…`;
  // Fewer logged than counted: the API answers the newest 100, and attempts made before the
  // server kept the log are not in it.
  if (attempts.length === 0 && count > 0) return `${counted}, made before the attempt log was kept.`;
  if (attempts.length < count) return `${counted}, the newest ${attempts.length} below, oldest first:`;
  return count === 1 ? `${counted}:` : `${counted}, oldest first:`;
}

/** The attempts' table, in a region that scrolls sideways on a narrow screen (not the page). */
function attemptsTable(): { region: HTMLElement; body: HTMLTableSectionElement } {
  const body = element("tbody");
  const headers = ["Attempt", "Started", "Response", "Result", "Error", "Duration"];
  const table = element(
    "table",
    { id: "delivery-attempts-table" },
    element("caption", { id: "delivery-attempts-caption", class: "visually-hidden" }, "Attempts of this delivery, oldest first"),
    element("thead", {}, element("tr", {}, ...headers.map((header) => element("th", { scope: "col" }, header)))),
    body,
  );
  const region = element(
    "div",
    { class: "table-wrap", role: "region", "aria-labelledby": "delivery-attempts-caption", tabindex: "0", hidden: true },
    table,
  );
  return { region, body };
}

function attemptRow(attempt: WebhookDeliveryAttempt): HTMLTableRowElement {
  const duration = Date.parse(attempt.finished_at) - Date.parse(attempt.started_at);
  return element(
    "tr",
    { "data-attempt": String(attempt.number) },
    cell(String(attempt.number)),
    cell(timeElement(attempt.started_at)),
    cell(attempt.response_status === null ? "no response" : `HTTP ${attempt.response_status}`),
    cell(element("span", { class: `badge ${attempt.success ? "ok" : "bad"}` }, attempt.success ? "success" : "failure")),
    cell(attempt.error ?? ""),
    cell(`${duration} ms`),
  );
}

export function badgeOf(status: WebhookDelivery["status"]): string {
  if (status === "success") return "ok";
  if (status === "failed") return "bad";
  return "";
}
