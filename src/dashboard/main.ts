import { AuditView } from "./audit-view.js";
import { DeliveriesView } from "./deliveries-view.js";
import { announce, byId } from "./dom.js";
import { InstancesView } from "./instances-view.js";
import { KeysView } from "./keys-view.js";
import { describeFailure, Session } from "./session.js";
import { WebhooksView } from "./webhooks-view.js";

const SECTIONS = ["keys", "instances", "webhooks", "deliveries", "audit"] as const;
type Section = (typeof SECTIONS)[number];

const session = new Session();
const views: Record<Section, { load(): Promise<void> }> = {
  keys: new KeysView(session, (message) => {
    session.signOut();
    showSignIn(message);
    announce(message);
  }),
  instances: new InstancesView(session),
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
  if (byId("sign-in").hidden) void showSection(sectionInUrl(), true);
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
  void showSection(sectionInUrl(), moveFocus);
}

async function showSection(shown: Section, moveFocus: boolean): Promise<void> {
  for (const section of SECTIONS) byId(section).hidden = section !== shown;
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#sections a")) {
    if (link.dataset.section === shown) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (moveFocus) byId(`${shown}-title`).focus();
  await views[shown].load();
}

function sectionInUrl(): Section {
  const wanted = location.hash.slice(1);
  return SECTIONS.find((section) => section === wanted) ?? "keys";
}
