import { relativeTime } from "../format/human-readable.js";

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | boolean | undefined>;

/**
 * One element, its attributes and its children. Text goes in as text nodes, never as markup:
 * key names, audit metadata and delivery errors are customer-controlled.
 */
export function element<Tag extends keyof HTMLElementTagNameMap>(
  tag: Tag,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[Tag] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

/** A `<time>` reading "3 min ago", with the exact UTC time on hover and for screen readers. */
export function timeElement(iso: string | null, whenNull = "never"): Node {
  if (iso === null) return document.createTextNode(whenNull);
  return element("time", { datetime: iso, title: iso }, relativeTime(iso));
}

/** Tells screen readers what just happened, through the page's one polite live region. */
export function announce(text: string): void {
  const announcer = byId("announcer");
  // A repeated message is only read again if the region's text changes.
  announcer.textContent = "";
  window.setTimeout(() => (announcer.textContent = text), 50);
}

/** Replaces a table body's rows and shows the "nothing here" line when there are none. */
export function fillTable(tableId: string, emptyId: string, rows: HTMLTableRowElement[], append = false): void {
  const body = byId<HTMLTableElement>(tableId).tBodies[0]!;
  if (!append) body.replaceChildren();
  body.append(...rows);
  byId(emptyId).hidden = body.rows.length > 0;
}

export function cell(...children: Child[]): HTMLTableCellElement {
  return element("td", {}, ...children);
}

/**
 * Copies a secret shown once to the clipboard; when the browser refuses (no permission, or not a
 * secure context), leaves it selected for Ctrl+C. `what` names it: "key", "secret".
 */
export async function copySecret(fieldId: string, statusId: string, what: string): Promise<void> {
  const field = byId<HTMLInputElement>(fieldId);
  const status = byId(statusId);
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = "Copied to the clipboard.";
  } catch {
    field.select();
    status.textContent = `Copying was refused by the browser: the ${what} is selected, press Ctrl+C.`;
  }
}
