import http from "node:http";
import https from "node:https";
import type { MediaType } from "../contract/message.js";
import { DestinationError, guardedConnection, type DestinationPolicy } from "../webhook-endpoints/destination-guard.js";

/** How long the sandbox waits for a media URL's response headers. */
export const MEDIA_PROBE_TIMEOUT_MS = 5_000;
/** A content type a server sent is quoted in the error, at most this long. */
const MAX_QUOTED_CONTENT_TYPE = 100;

/** The content types WhatsApp would take for each media type, as the sandbox judges them. */
const ACCEPTED_KINDS: Record<MediaType, { prefixes: string[]; noun: string }> = {
  image: { prefixes: ["image/"], noun: "an image" },
  video: { prefixes: ["video/"], noun: "a video" },
  audio: { prefixes: ["audio/"], noun: "an audio file" },
  document: { prefixes: ["application/", "text/"], noun: "a document" },
};

class ProbeTimeout extends Error {}

/**
 * What WhatsApp would find at a media message's URL, played by the sandbox so that an integration
 * meets the failure before it goes live: a GET that must answer 200 with a content type of the
 * message's kind. Returns why the message fails, or null when it would be sent. Only the headers
 * are read (the body is dropped unread), redirects are not followed, and the connection goes
 * through the destination guard's lookup: the URL was checked at send time, but DNS may have
 * changed since. Never throws.
 */
export function probeMedia(type: MediaType, url: string, policy: DestinationPolicy, timeoutMs = MEDIA_PROBE_TIMEOUT_MS): Promise<string | null> {
  let connection: ReturnType<typeof guardedConnection>;
  try {
    connection = guardedConnection(url, policy);
  } catch (error) {
    return Promise.resolve(unreachable(error, timeoutMs));
  }
  const target = new URL(url);
  return new Promise((resolve) => {
    const transport = target.protocol === "https:" ? https : http;
    // One connection per probe: a pooled socket would skip the guarded lookup.
    const request = transport.request(target, { method: "GET", agent: false, lookup: connection.lookup });
    const timer = setTimeout(() => request.destroy(new ProbeTimeout()), timeoutMs);
    timer.unref();
    request.on("response", (response) => {
      clearTimeout(timer);
      resolve(judge(type, response.statusCode ?? 0, response.headers["content-type"]));
      response.on("error", () => undefined);
      request.destroy();
    });
    request.on("error", (error) => {
      clearTimeout(timer);
      resolve(unreachable(error, timeoutMs));
    });
    request.end();
  });
}

function judge(type: MediaType, status: number, contentType: string | undefined): string | null {
  if (status !== 200) {
    const redirect = status >= 300 && status < 400 ? " (redirects are not followed)" : "";
    return `The sandbox fetched the media URL: HTTP ${status}${redirect}`;
  }
  const kind = ACCEPTED_KINDS[type];
  const essence = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (essence === "") return `The sandbox fetched the media URL: no content type, not ${kind.noun}`;
  if (kind.prefixes.some((prefix) => essence.startsWith(prefix) && essence.length > prefix.length)) return null;
  return `The sandbox fetched the media URL: content type ${quoted(essence)} is not ${kind.noun}`;
}

/** A content type as another server sent it: printable ASCII only, and short. */
function quoted(contentType: string): string {
  const printable = contentType.replace(/[^\x21-\x7e]/g, "?");
  return printable.length > MAX_QUOTED_CONTENT_TYPE ? `${printable.slice(0, MAX_QUOTED_CONTENT_TYPE)}…` : printable;
}

/** Why no response arrived; never the URL, which may carry a token. */
function unreachable(error: unknown, timeoutMs: number): string {
  const prefix = "The sandbox could not fetch the media URL";
  if (error instanceof ProbeTimeout) return `${prefix}: no response within ${timeoutMs} ms`;
  if (error instanceof DestinationError) return `${prefix}: destination refused: ${error.message}`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ECONNREFUSED") return `${prefix}: connection refused`;
  if (typeof code === "string") return `${prefix}: ${code}`;
  return prefix;
}
