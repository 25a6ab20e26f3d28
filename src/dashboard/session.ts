import { createClient, type ErrorEnvelope, type WhatIsUpClient } from "../client/index.js";

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

  /** Called when the API refuses the key itself (401): the dashboard goes back to sign-in. */
  onKeyRefused: (refusal: ApiRefusal) => void = () => undefined;

  restore(): boolean {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored === null) return false;
    this.use(stored);
    return true;
  }

  /** Tries the key on `GET /v1/limits`, which any valid key may call, and keeps it if it works. */
  async signIn(secret: string): Promise<void> {
    const client = createClient({ baseUrl: location.origin, apiKey: secret });
    await answerOf(client.GET("/v1/limits"));
    this.use(secret);
    sessionStorage.setItem(STORAGE_KEY, secret);
  }

  signOut(): void {
    sessionStorage.removeItem(STORAGE_KEY);
    this.client = null;
    this.secret = null;
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
  throw new ApiRefusal(
    answer.response.status,
    envelope?.error?.code ?? "unknown_error",
    envelope?.error?.message ?? `The server answered ${answer.response.status}.`,
    envelope?.request_id ?? answer.response.headers.get("x-request-id"),
  );
}
