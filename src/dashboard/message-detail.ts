import type { Message } from "@whatisup/client";
import { absoluteAndRelative } from "../format/human-readable.js";
import { announce, byId, element } from "./dom.js";
import { Modal } from "./modal.js";
import { describeFailure, type Session } from "./session.js";

/** One message in a dialog: every field the API gives, and Refresh to follow its status. */
export class MessageDetail {
  private readonly modal: Modal;
  private shown: Message | null = null;

  constructor(private readonly session: Session) {
    this.modal = new Modal("message-dialog", () => byId("messages-title"), () => (this.shown = null));
    byId("message-close").addEventListener("click", () => this.modal.close());
    byId("message-refresh").addEventListener("click", () => void this.refresh());
  }

  /** Shows what the list knows at once, then the message as it stands now. */
  open(message: Message, opener: HTMLElement): void {
    this.show(message);
    byId("message-error").textContent = "";
    this.modal.open(opener, byId("message-title"));
    void this.load(message).catch((refusal: unknown) => (byId("message-error").textContent = describeFailure(refusal)));
  }

  /** Fetches the message and shows it, if it is still the one shown (else null). */
  private async load(message: Message): Promise<Message | null> {
    const fresh = await this.session.call((client) =>
      client.GET("/v1/instances/{id}/messages/{message_id}", {
        params: { path: { id: message.instance_id, message_id: message.id } },
      }),
    );
    if (this.shown?.id !== message.id) return null;
    this.show(fresh);
    return fresh;
  }

  private show(message: Message): void {
    this.shown = message;
    byId("message-title").textContent = `${message.direction === "inbound" ? "Inbound" : "Outbound"} ${message.type} message`;
    const facts: [string, Node | string][] = [
      ["Direction", directionLabel(message.direction)],
      ["Status", statusBadge(message.status)],
      ["From", mono(message.from)],
      ["To", mono(message.to)],
      ["Type", message.type],
      ...contentFacts(message),
      ["Client ref", message.client_ref === null ? "—" : untrusted(message.client_ref)],
      ["Error", message.error === null ? "none" : untrusted(message.error)],
      ["In reply to", mono(message.reply_to)],
      ["Sent", exactTime(message.sent_at)],
      ["Delivered", exactTime(message.delivered_at)],
      ["Read", exactTime(message.read_at)],
      ["Failed", exactTime(message.failed_at)],
      ["Received", exactTime(message.received_at)],
      ["Created", exactTime(message.created_at)],
      ["Updated", exactTime(message.updated_at)],
      ["Message id", mono(message.id)],
      ["Instance id", mono(message.instance_id)],
    ];
    byId("message-facts").replaceChildren(...facts.flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
  }

  private async refresh(): Promise<void> {
    const message = this.shown;
    if (message === null) return;
    const error = byId("message-error");
    error.textContent = "";
    try {
      const fresh = await this.load(message);
      if (fresh !== null) announce(`Message ${fresh.status}.`);
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    }
  }
}

/** The text, the media or the template: whichever the message carries, field by field. */
function contentFacts(message: Message): [string, Node | string][] {
  const facts: [string, Node | string][] = [];
  if (message.text !== null) facts.push(["Text", element("span", { class: "message-text" }, untrusted(message.text))]);
  const media = message.media;
  if (media !== null) {
    facts.push(
      // As text, never a link: the address is the sender's, and may lead anywhere.
      ["Media URL", media.url === null ? "— (fetch it from the provider by its media id)" : element("span", { class: "mono" }, media.url)],
      ["Caption", media.caption === null ? "—" : element("span", { class: "message-text" }, untrusted(media.caption))],
      ["File name", media.filename === null ? "—" : untrusted(media.filename)],
      ["MIME type", mono(media.mime_type)],
      ["Provider media id", mono(media.provider_media_id)],
    );
  }
  const template = message.template;
  if (template !== null) {
    facts.push(["Template", mono(template.name)], ["Language", mono(template.language)]);
    if (template.components !== undefined) {
      facts.push(["Components", element("pre", { class: "payload" }, JSON.stringify(template.components, null, 2))]);
    }
  }
  return facts;
}

/** "↓ in" or "↑ out": the arrow for the eye, the word for everyone. */
export function directionLabel(direction: Message["direction"]): Node {
  const inbound = direction === "inbound";
  return element(
    "span",
    { class: `direction ${inbound ? "in" : "out"}` },
    element("span", { "aria-hidden": "true" }, inbound ? "↓ " : "↑ "),
    inbound ? "in" : "out",
  );
}

export function statusBadge(status: Message["status"]): Node {
  const tone = status === "failed" ? " bad" : status === "queued" || status === "sent" ? "" : " ok";
  return element("span", { class: `badge${tone}` }, status);
}

/**
 * Text a sender or a client wrote, isolated from the text around it: a right-to-left message
 * (or a stray direction mark in one) does not reorder the page's own words.
 */
export function untrusted(text: string): Node {
  return element("bdi", {}, text);
}

function mono(value: string | null): Node | string {
  return value === null ? "—" : element("span", { class: "mono" }, value);
}

function exactTime(iso: string | null): Node | string {
  return iso === null ? "—" : element("time", { datetime: iso }, absoluteAndRelative(iso));
}
