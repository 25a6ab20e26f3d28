import { createClient, currentApiKey, type ApiKey, type ErrorEnvelope, type WhatIsUpClient } from "@whatisup/client";

/**
 * sessionStorage only: the key lives as long as the tab, is never written to a cookie or a URL
 * (which the server and proxies would log), and other tabs do not see it.
 */
const STORAGE_KEY = "whatisup.dashboard.api_key";

/** The API said no: its envelope's code and message, as the user should read them. */
export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }

  /** "This API key has been revoked. (auth_expired, req_…)" */
  describe(): string {
    return `${this.message} (${[this.code, this.requestId].filter(Boolean).join(", ")})`;
  }
}

export function describeFailure(failure: unknown): string {
  return failure instanceof ApiRefusal ? failure.describe() : String(failure);
}

type Answer<T> = { data?: T; error?: ErrorEnvelope | unknown; response: Response };

export class Session {
  private client: WhatIsUpClient | null = null;
  private secret: string | null = null;
  /** The signed-in key's metadata, once asked for; kept in memory only, like the client. */
  private key: ApiKey | null = null;

  /** Called when the API refuses the key itself (401): the dashboard goes back to sign-in. */
  onKeyRefused: (refusal: ApiRefusal) => void = () => undefined;

  restore(): boolean {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored === null) return false;
    this.use(stored);
    return true;
  }

  /**
   * Tries the key on `GET /v1/api-keys/current`, which any valid key may call without spending a
   * token, and keeps it if it works.
   */
  async signIn(secret: string): Promise<void> {
    const client = createClient({ baseUrl: location.origin, apiKey: secret });
    const key = await answerOf(currentApiKey(client));
    this.use(secret);
    this.key = key;
    sessionStorage.setItem(STORAGE_KEY, secret);
  }

  signOut(): void {
    sessionStorage.removeItem(STORAGE_KEY);
    this.client = null;
    this.secret = null;
    this.key = null;
  }

  /** The signed-in key's metadata: asked for once (a restored session has not asked yet). */
  async currentKey(): Promise<ApiKey> {
    if (this.key) return this.key;
    const client = this.client;
    const key = await this.call(currentApiKey);
    // Signed out, or in with another key, while asking: the answer is not this session's.
    if (this.client === client) this.key = key;
    return key;
  }

  /** The key's prefix, for "signed in as": the first 17 characters, never the rest. */
  get prefix(): string {
    return this.secret?.slice(0, 17) ?? "";
  }

  /** Runs one call with the signed-in key; throws ApiRefusal on any 4xx or 5xx. */
  async call<T>(run: (client: WhatIsUpClient) => Promise<Answer<T>>): Promise<T> {
    if (this.client === null) throw new ApiRefusal(401, "auth_missing", "You are signed out.", null);
    try {
      return await answerOf(run(this.client));
    } catch (error) {
      if (error instanceof ApiRefusal && error.status === 401) this.onKeyRefused(error);
      throw error;
    }
  }

  private use(secret: string): void {
    this.secret = secret;
    this.client = createClient({ baseUrl: location.origin, apiKey: secret });
  }
}

async function answerOf<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch {
    throw new ApiRefusal(0, "network_error", "The server could not be reached.", null);
  }
  if (answer.response.ok) return answer.data as T;
  const envelope = answer.error as Partial<ErrorEnvelope> | undefined;
  const message = envelope?.error?.message ?? `The server answered ${answer.response.status}.`;
  throw new ApiRefusal(
    answer.response.status,
    envelope?.error?.code ?? "unknown_error",
    [message, ...fieldProblems(envelope)].join(" "),
    envelope?.request_id ?? answer.response.headers.get("x-request-id"),
  );
}

/**
 * validation_failed says only "The request is not valid."; its details name each bad field, and
 * the user needs those to know which entry to fix.
 */
function fieldProblems(envelope: Partial<ErrorEnvelope> | undefined): string[] {
  const details = (envelope?.error as { details?: { fields?: unknown } } | undefined)?.details;
  if (!Array.isArray(details?.fields)) return [];
  return (details.fields as { field?: unknown; message?: unknown }[])
    .filter((problem) => typeof problem.field === "string" && typeof problem.message === "string")
    .map((problem) => `${String(problem.field)}: ${String(problem.message)}`);
}
