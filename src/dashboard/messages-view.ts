import type { Instance, Message } from "@whatisup/client";
import { byId, cell, element, timeElement } from "./dom.js";
import { MESSAGE_DIRECTIONS, MESSAGE_STATUSES, type MessageDirection, type MessageStatus } from "./events.js";
import { InboundMessageDialog, SendMessageDialog } from "./message-compose.js";
import { directionLabel, MessageDetail, statusBadge, untrusted } from "./message-detail.js";
import { PagedTable } from "./paged-table.js";
import type { Session } from "./session.js";

/** How much of a long text or caption a row shows; the detail shows it all. */
const SUMMARY_LENGTH = 140;

/**
 * One instance's messages, both ways (`#messages/<instance id>`): filtered by direction and
 * status, each one's detail a click away, with the send and, on a sandbox, the "simulate inbound" dialogs.
 */
export class MessagesView {
  private readonly table: PagedTable<Message>;
  private readonly detail: MessageDetail;
  private readonly sendDialog: SendMessageDialog;
  private readonly inboundDialog: InboundMessageDialog;
  private instanceId = "";
  /** The instance shown, once read; null while reading, or when the key may not read instances. */
  private instance: Instance | null = null;

  constructor(private readonly session: Session) {
    this.table = new PagedTable({
      ids: { table: "messages-table", empty: "messages-empty", error: "messages-error", more: "messages-more" },
      fetchPage: (cursor) =>
        session.call((client) =>
          client.GET("/v1/instances/{id}/messages", {
            params: { path: { id: this.instanceId }, query: { ...this.filters(), ...(cursor ? { cursor } : {}) } },
          }),
        ),
      row: (message) => this.row(message),
    });
    this.detail = new MessageDetail(session);
    this.sendDialog = new SendMessageDialog(session, () => void this.table.load());
    this.inboundDialog = new InboundMessageDialog(session, () => void this.table.load());

    byId("messages-direction").replaceChildren(
      element("option", { value: "" }, "Both directions"),
      ...MESSAGE_DIRECTIONS.map((direction) => element("option", { value: direction }, direction)),
    );
    byId("messages-status").replaceChildren(
      element("option", { value: "" }, "Any status"),
      ...MESSAGE_STATUSES.map((status) => element("option", { value: status }, status)),
    );
    byId<HTMLFormElement>("messages-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.table.load();
    });
    byId("messages-refresh").addEventListener("click", () => void this.table.load());
    byId("message-send-open").addEventListener("click", (event) =>
      this.sendDialog.open(this.instanceId, this.instance?.transport === "sandbox", event.currentTarget as HTMLElement),
    );
    byId("message-inbound-open").addEventListener("click", (event) =>
      this.inboundDialog.open(this.instanceId, event.currentTarget as HTMLElement),
    );
  }

  async load(instanceId = ""): Promise<void> {
    if (instanceId !== this.instanceId) {
      // Another instance: nothing of the last one stays on screen while this one loads.
      this.instanceId = instanceId;
      this.instance = null;
      byId<HTMLFormElement>("messages-filter").reset();
      this.table.clear();
      this.showInstance();
    }
    this.instance = await this.session
      .call((client) => client.GET("/v1/instances/{id}", { params: { path: { id: instanceId } } }))
      // Without instances:read the screen names the instance by its id; the messages still come.
      .catch(() => null);
    if (this.instanceId !== instanceId) return;
    this.showInstance();
    await this.table.load();
  }

  private showInstance(): void {
    const instance = this.instance;
    byId("messages-instance").textContent = instance?.name ?? this.instanceId;
    byId("messages-instance-facts").textContent =
      instance === null
        ? `Instance ${this.instanceId}`
        : [instance.transport, instance.status, instance.phone_number, instance.id].filter(Boolean).join(" · ");
    // Only a sandbox can be made to receive; unknown (not readable), the API answers for it.
    byId("message-inbound-open").hidden = instance !== null && instance.transport !== "sandbox";
  }

  private row(message: Message): HTMLTableRowElement {
    const details = element(
      "button",
      { type: "button", class: "link", "aria-label": `Details of the ${message.direction} ${message.type} message of ${message.created_at}` },
      "Details",
    );
    details.addEventListener("click", () => this.detail.open(message, details));
    return element(
      "tr",
      { "data-message-id": message.id },
      element("th", { scope: "row" }, timeElement(message.created_at)),
      cell(directionLabel(message.direction)),
      element("td", { class: "mono phone" }, message.from ?? "—"),
      element("td", { class: "mono phone" }, message.to ?? "—"),
      cell(message.type),
      cell(statusBadge(message.status)),
      element("td", { class: "message-summary" }, summary(message)),
      element("td", { class: "row-actions" }, details),
    );
  }

  private filters(): { direction?: MessageDirection; status?: MessageStatus } {
    const direction = byId<HTMLSelectElement>("messages-direction").value as MessageDirection | "";
    const status = byId<HTMLSelectElement>("messages-status").value as MessageStatus | "";
    return { ...(direction ? { direction } : {}), ...(status ? { status } : {}) };
  }
}

/** The row's one line of content: the text, the caption (or file) of a media, or the template's name. */
function summary(message: Message): Node | string {
  if (message.text !== null) return untrusted(shorten(message.text));
  if (message.template !== null) return element("span", { class: "mono" }, `${message.template.name} (${message.template.language})`);
  const media = message.media;
  if (media === null) return "—";
  if (media.caption !== null) return untrusted(shorten(media.caption));
  if (media.filename !== null) return untrusted(media.filename);
  // As text, never a link: the address is the sender's, and may lead anywhere.
  return element("span", { class: "mono url" }, media.url ?? "no URL (a provider media id)");
}

function shorten(text: string): string {
  const characters = [...text];
  return characters.length <= SUMMARY_LENGTH ? text : `${characters.slice(0, SUMMARY_LENGTH).join("")}…`;
}
