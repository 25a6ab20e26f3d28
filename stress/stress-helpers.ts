import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import type { StartedServer } from "../test/helpers/cli-process.js";

export const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

export type Answer = { status: number; code: string | null; body: Record<string, unknown> | null };

/** One request with a key; the answer's status, its error code if any, and its JSON body. */
export async function call(server: StartedServer, method: string, path: string, secret: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const parsed = text === "" ? null : (JSON.parse(text) as Record<string, unknown>);
  const error = parsed?.error as { code?: string } | undefined;
  return { status: response.status, code: error?.code ?? null, body: parsed };
}

/** Answers counted by status and code ("201", "503 database_unavailable"), and requests that got none. */
export class Tally {
  readonly counts = new Map<string, number>();
  unanswered = 0;

  /** `call`, counted; null when no HTTP answer came at all (the tally judges that, not a throw). */
  async ask(server: StartedServer, method: string, path: string, secret: string, body?: unknown): Promise<Answer | null> {
    try {
      return this.add(await call(server, method, path, secret, body));
    } catch {
      this.unanswered += 1;
      return null;
    }
  }

  add(answer: Answer): Answer {
    const label = answer.code === null ? String(answer.status) : `${answer.status} ${answer.code}`;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    return answer;
  }

  count(predicate: (label: string) => boolean): number {
    let total = 0;
    for (const [label, count] of this.counts) if (predicate(label)) total += count;
    return total;
  }

  get total(): number {
    return this.count(() => true);
  }

  /** Every 5xx label, for an assertion that names them. */
  serverErrors(): Record<string, number> {
    return Object.fromEntries([...this.counts].filter(([label]) => label.startsWith("5")));
  }

  toString(): string {
    return [...this.counts].sort(([a], [b]) => a.localeCompare(b)).map(([label, count]) => `${label}: ${count}`).join(", ");
  }
}

/** A Redis of the test's own, so that stopping it touches nobody else's. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const spawned = new Promise<void>((resolvePromise, reject) => {
    redis.once("error", (error) => reject(new Error(`redis-server could not start (is it installed?): ${error.message}`)));
    redis.once("spawn", resolvePromise);
  });
  await spawned;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (await accepts(port)) return redis;
    await sleep(50);
  }
  redis.kill("SIGKILL");
  throw new Error(`redis-server did not listen on ${port}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}

export function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => child.once("exit", () => resolvePromise()));
}
