import { describe, expect, it } from "vitest";
import { newRequestId } from "../src/http/request-id.js";

describe("request ids", () => {
  it("are req_ and 16 base64url characters (12 random bytes), and never repeat across batches", () => {
    const ids = Array.from({ length: 5_000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(/^req_[A-Za-z0-9_-]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
