import { afterAll, describe, expect, it } from "vitest";
import { findCredentialByDigest } from "../src/api-keys/api-key-repository.js";
import { Interner } from "../src/collections/interner.js";
import { KeyDigester } from "../src/crypto/key-digest.js";
import { buildTestApp, createTestCustomer, issueKey, TEST_PEPPER } from "./helpers/test-app.js";

describe("Interner", () => {
  it("hands out the value first made for a key, and makes it once", () => {
    const interner = new Interner<{ made: number }>(10);
    let made = 0;
    const first = interner.intern("a", () => ({ made: ++made }));
    const again = interner.intern("a", () => ({ made: ++made }));
    expect(again).toBe(first);
    expect(made).toBe(1);
    expect(interner.intern("b", () => ({ made: ++made }))).toEqual({ made: 2 });
  });

  it("starts over past its bound: values are made again, never wrong", () => {
    const interner = new Interner<string>(2);
    const one = interner.intern("1", () => "one");
    interner.intern("2", () => "two");
    interner.intern("3", () => "three");
    let remade = false;
    expect(
      interner.intern("1", () => {
        remade = true;
        return "one";
      }),
    ).toBe(one);
    expect(remade).toBe(true);
  });
});

describe("credentials read for the key cache", async () => {
  const app = await buildTestApp();
  afterAll(() => app.close());

  it("share an equal scope list, frozen so that no holder changes it for the others", async () => {
    const { secret } = await createTestCustomer(app);
    const first = await issueKey(app, secret, { name: "a", scopes: ["messages:send", "instances:read"] });
    const second = await issueKey(app, secret, { name: "b", scopes: ["messages:send", "instances:read"] });
    const [a, b] = await Promise.all([
      findCredentialByDigest(app.db, new KeyDigester(TEST_PEPPER).digest(first.secret)),
      findCredentialByDigest(app.db, new KeyDigester(TEST_PEPPER).digest(second.secret)),
    ]);
    expect(a?.id).toBe(first.id);
    expect(b?.id).toBe(second.id);
    expect(a?.scopes).toEqual(["messages:send", "instances:read"]);
    expect(b?.scopes).toBe(a?.scopes);
    expect(Object.isFrozen(a?.scopes)).toBe(true);
    expect(() => (a?.scopes as string[]).push("keys:write")).toThrow(TypeError);
  });
});
