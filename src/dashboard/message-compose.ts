import type { paths } from "@whatisup/client";
import { announce, byId, element } from "./dom.js";
import { MESSAGE_TYPES, type MessageType } from "./events.js";
import { Modal } from "./modal.js";
import { describeFailure, type Session } from "./session.js";

type SendBody = paths["/v1/instances/{id}/messages"]["post"]["requestBody"]["content"]["application/json"];
type InboundBody = paths["/v1/instances/{id}/sandbox/inbound"]["post"]["requestBody"]["content"]["application/json"];
type InboundType = NonNullable<InboundBody["type"]>;

/** A sandbox instance receives every type but templates, which only a business sends. */
const INBOUND_TYPES = MESSAGE_TYPES.filter((type): type is InboundType => type !== "template");

/**
 * The content fields of a compose form, `<prefix>-…` in the page: the text, the media or the
 * template fields, whichever the chosen type takes. What the API checks (lengths, URLs, which
 * field goes with which type) it checks, and its answer names the field.
 */
class ContentFields {
  constructor(
    private readonly prefix: string,
    types: readonly MessageType[],
  ) {
    const select = byId<HTMLSelectElement>(`${prefix}-type`);
    select.replaceChildren(...types.map((type) => element("option", { value: type }, type)));
    select.addEventListener("change", () => this.showFieldsOfType());
  }

  get type(): MessageType {
    return byId<HTMLSelectElement>(`${this.prefix}-type`).value as MessageType;
  }

  showFieldsOfType(): void {
    const type = this.type;
    byId(`${this.prefix}-text-fields`).hidden = type !== "text";
    byId(`${this.prefix}-media-fields`).hidden = type === "text" || type === "template";
    byId(`${this.prefix}-caption-field`).hidden = type === "audio";
    byId(`${this.prefix}-filename-field`).hidden = type !== "document";
    const template = document.getElementById(`${this.prefix}-template-fields`);
    if (template) template.hidden = type !== "template";
  }

  /** What the chosen type takes, from the fields shown; an empty optional field is left out. */
  content(): Pick<SendBody, "text" | "media" | "template"> {
    const type = this.type;
    if (type === "text") return optional("text", this.value("text", false));
    if (type === "template") {
      return { template: { name: this.value("template") ?? "", language: this.value("language") ?? "" } };
    }
    return {
      media: {
        url: this.value("url") ?? "",
        ...(type === "audio" ? {} : optional("caption", this.value("caption", false))),
        ...(type === "document" ? optional("filename", this.value("filename")) : {}),
      },
    };
  }

  /** A field's value, undefined when empty; `trim` false keeps a text's own spaces and lines. */
  private value(field: string, trim = true): string | undefined {
    const raw = byId<HTMLInputElement | HTMLTextAreaElement>(`${this.prefix}-${field}`).value;
    if (raw.trim() === "") return undefined;
    return trim ? raw.trim() : raw;
  }
}

function optional<Name extends string>(name: Name, value: string | undefined): { [key in Name]?: string } {
  return (value === undefined ? {} : { [name]: value }) as { [key in Name]?: string };
}

/** The "send a message" dialog: text, media or template, from the instance shown. */
export class SendMessageDialog {
  private readonly modal: Modal;
  private readonly fields = new ContentFields("message-send", MESSAGE_TYPES);
  private instanceId: string | null = null;

  constructor(
    private readonly session: Session,
    /** Called once the API has accepted a message, so that the table shows it. */
    private readonly sent: () => void,
  ) {
    this.modal = new Modal("message-send-dialog", () => byId("messages-title"));
    byId("message-send-cancel").addEventListener("click", () => this.modal.close());
    byId<HTMLFormElement>("message-send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    byId("message-send-form").addEventListener("input", () => (byId("message-send-error").textContent = ""));
  }

  open(instanceId: string, sandbox: boolean, opener: HTMLElement): void {
    this.instanceId = instanceId;
    byId<HTMLFormElement>("message-send-form").reset();
    this.fields.showFieldsOfType();
    byId("message-send-error").textContent = "";
    byId("message-send-hint").textContent = sandbox
      ? "A sandbox instance plays the message's lifecycle (sent, delivered, read) without sending it. Messages to +15550000000 always fail."
      : "";
    this.modal.open(opener, byId("message-send-to"));
  }

  private async send(): Promise<void> {
    const instanceId = this.instanceId;
    if (instanceId === null) return;
    const error = byId("message-send-error");
    const to = byId<HTMLInputElement>("message-send-to").value.trim();
    if (to === "") {
      error.textContent = "Give the recipient's number.";
      byId("message-send-to").focus();
      return;
    }
    const body: SendBody = { type: this.fields.type, to, ...this.fields.content() };
    const submit = byId<HTMLButtonElement>("message-send-submit");
    submit.disabled = true;
    try {
      const accepted = await this.session.call((client) =>
        client.POST("/v1/instances/{id}/messages", { params: { path: { id: instanceId } }, body }),
      );
      this.modal.close();
      announce(`Message to ${accepted.to} queued.`);
      this.sent();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      submit.disabled = false;
    }
  }
}

/** The "simulate inbound" dialog of a sandbox instance: someone writes to it. */
export class InboundMessageDialog {
  private readonly modal: Modal;
  private readonly fields = new ContentFields("message-inbound", INBOUND_TYPES);
  private instanceId: string | null = null;

  constructor(
    private readonly session: Session,
    /** Called once the instance has received the message, so that the table shows it. */
    private readonly received: () => void,
  ) {
    this.modal = new Modal("message-inbound-dialog", () => byId("messages-title"));
    byId("message-inbound-cancel").addEventListener("click", () => this.modal.close());
    byId<HTMLFormElement>("message-inbound-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.receive();
    });
    byId("message-inbound-form").addEventListener("input", () => (byId("message-inbound-error").textContent = ""));
  }

  open(instanceId: string, opener: HTMLElement): void {
    this.instanceId = instanceId;
    byId<HTMLFormElement>("message-inbound-form").reset();
    this.fields.showFieldsOfType();
    byId("message-inbound-error").textContent = "";
    this.modal.open(opener, byId("message-inbound-from"));
  }

  private async receive(): Promise<void> {
    const instanceId = this.instanceId;
    if (instanceId === null) return;
    const error = byId("message-inbound-error");
    const from = byId<HTMLInputElement>("message-inbound-from").value.trim();
    if (from === "") {
      error.textContent = "Give the sender's number.";
      byId("message-inbound-from").focus();
      return;
    }
    const replyTo = byId<HTMLInputElement>("message-inbound-reply-to").value.trim();
    const { text, media } = this.fields.content();
    const body: InboundBody = {
      from,
      type: this.fields.type as InboundType,
      ...(text === undefined ? {} : { text }),
      ...(media === undefined ? {} : { media }),
      ...(replyTo === "" ? {} : { reply_to: replyTo }),
    };
    const submit = byId<HTMLButtonElement>("message-inbound-submit");
    submit.disabled = true;
    try {
      const message = await this.session.call((client) =>
        client.POST("/v1/instances/{id}/sandbox/inbound", { params: { path: { id: instanceId } }, body }),
      );
      this.modal.close();
      announce(`Message from ${message.from ?? "an unknown sender"} received.`);
      this.received();
    } catch (refusal) {
      error.textContent = describeFailure(refusal);
    } finally {
      submit.disabled = false;
    }
  }
}
