import { AuditView } from "./audit-view.js";
import { DeliveriesView } from "./deliveries-view.js";
import { announce, byId } from "./dom.js";
import { InstancesView } from "./instances-view.js";
import { KeysView } from "./keys-view.js";
import { MessagesView } from "./messages-view.js";
import { describeFailure, Session } from "./session.js";
import { WebhooksView } from "./webhooks-view.js";

const SECTIONS = ["keys", "instances", "messages", "webhooks", "deliveries", "audit"] as const;
type Section = (typeof SECTIONS)[number];
/** A screen, and what it is of: `#messages/<instance id>` is one instance's messages. */
type Place = { section: Section; of: string | undefined };
/** Screens reached from another, not from the menu: the menu marks the one they belong to. */
const PARENT: Partial<Record<Section, Section>> = { messages: "instances" };

const session = new Session();
const views: Record<Section, { load(of?: string): Promise<void> }> = {
  keys: new KeysView(session, (message) => {
    session.signOut();
    showSignIn(message);
    announce(message);
  }),
  instances: new InstancesView(session),
  messages: new MessagesView(session),
  webhooks: new WebhooksView(session),
  deliveries: new DeliveriesView(session),
  audit: new AuditView(session),
};

session.onKeyRefused = (refusal) => {
  session.signOut();
  showSignIn(`Signed out: the API refused the key. ${refusal.describe()}`);
};

byId<HTMLFormElement>("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void signIn();
});
byId("sign-out").addEventListener("click", () => {
  session.signOut();
  showSignIn("");
  announce("Signed out.");
});
window.addEventListener("hashchange", () => {
  if (byId("sign-in").hidden) void showSection(placeInUrl(), true);
});

if (session.restore()) showApp(false);
else showSignIn("");

async function signIn(): Promise<void> {
  const input = byId<HTMLInputElement>("sign-in-key");
  const error = byId("sign-in-error");
  const secret = input.value.trim();
  if (secret === "") {
    error.textContent = "Paste an API key first.";
    input.focus();
    return;
  }
  error.textContent = "";
  try {
    await session.signIn(secret);
  } catch (failure) {
    error.textContent = describeFailure(failure);
    input.focus();
    return;
  }
  input.value = "";
  announce("Signed in.");
  showApp(true);
}

function showSignIn(message: string): void {
  for (const section of SECTIONS) byId(section).hidden = true;
  byId("sections").hidden = true;
  byId("session").hidden = true;
  byId("session-key").textContent = "";
  byId("sign-in").hidden = false;
  byId("sign-in-error").textContent = message;
  byId("sign-in-key").focus();
}

function showApp(moveFocus: boolean): void {
  byId("sign-in").hidden = true;
  byId("sections").hidden = false;
  byId("session").hidden = false;
  const label = byId("session-key");
  label.textContent = `Signed in as ${session.prefix}…`;
  // The key's name too, once known; a refused key signs the session out through call() anyway.
  session.currentKey().then(
    (key) => {
      if (!byId("session").hidden && key.prefix === session.prefix) label.textContent = `Signed in as ${key.prefix}… (${key.name})`;
    },
    () => undefined,
  );
  void showSection(placeInUrl(), moveFocus);
}

async function showSection({ section: shown, of }: Place, moveFocus: boolean): Promise<void> {
  for (const section of SECTIONS) byId(section).hidden = section !== shown;
  const inMenu = PARENT[shown] ?? shown;
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#sections a")) {
    if (link.dataset.section === inMenu) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (moveFocus) byId(`${shown}-title`).focus();
  await views[shown].load(of);
}

function placeInUrl(): Place {
  const [wanted, of] = location.hash.slice(1).split("/", 2);
  const section = SECTIONS.find((each) => each === wanted) ?? "keys";
  // Messages are always some instance's: without one, the instances to choose from.
  if (section === "messages" && !of) return { section: "instances", of: undefined };
  return { section, of: of || undefined };
}
