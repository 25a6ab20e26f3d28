import { findCredentialByDigest, type KeyCredential } from "../api-keys/api-key-repository.js";
import { keyDigest } from "../crypto/key-digest.js";
import { isWellFormedKey } from "../crypto/key-format.js";
import type { Db } from "../db/schema.js";
import { AppError } from "../errors/app-error.js";
import type { RateLimiter } from "../rate-limit/token-buckets.js";
import type { RevocationChannel } from "./revocation-channel.js";
import type { VerifiedKeyCache } from "./verified-key-cache.js";

const BEARER = /^bearer +(\S+) *$/i;

/**
 * Turns an Authorization header into the credential of a live key: header → scheme → format and
 * checksum (no I/O) → digest → this node's cache, else the database (behind the
 * failed-authentication throttle) → revoked or expired. Throws the 401 or 429 to answer.
 */
export class KeyVerifier {
  constructor(
    private readonly db: Db,
    private readonly pepper: string,
    private readonly cache: VerifiedKeyCache,
    /** Whether this node hears every revocation: the cache is used only while it does. */
    private readonly revocations: RevocationChannel,
    /** Per client address: spent by every `auth_invalid`, and reserved before any database read. */
    private readonly authFailures: RateLimiter,
  ) {}

  async verify(authorization: string | undefined, clientAddress: string, now: string): Promise<KeyCredential> {
    if (authorization === undefined || authorization === "") {
      throw new AppError("auth_missing", "Send your API key as `Authorization: Bearer <key>`.");
    }
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) {
      throw new AppError("auth_malformed", "The Authorization header must be `Bearer <key>`.");
    }
    if (!isWellFormedKey(token)) {
      throw new AppError("auth_malformed", "That is not a WhatIsUp API key: its format or checksum is wrong.");
    }
    const digest = keyDigest(this.pepper, token);
    const cached = this.revocations.healthy() ? this.cache.get(digest) : undefined;
    const credential = cached ?? (await this.readCredential(digest, clientAddress));
    if (credential.revoked_at !== null) {
      throw new AppError("auth_expired", "This API key has been revoked.");
    }
    if (credential.expires_at !== null && credential.expires_at <= now) {
      throw new AppError("auth_expired", "This API key has expired.");
    }
    return credential;
  }

  private async readCredential(digest: string, clientAddress: string): Promise<KeyCredential> {
    // The token is taken before the read, not after it fails: concurrent unknown keys from one
    // address would otherwise all pass a check made before any of them had failed.
    const throttle = await this.authFailures.take(clientAddress);
    if (!throttle.allowed) throw tooManyFailures(throttle.retryAfterMs);
    const generation = this.cache.generation;
    const credential = await findCredentialByDigest(this.db, digest);
    if (credential === undefined) throw new AppError("auth_invalid", "This API key does not exist.");
    await this.authFailures.refund(clientAddress);
    if (this.revocations.healthy()) this.cache.set(digest, credential, generation);
    return credential;
  }
}

function tooManyFailures(retryAfterMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError(
    "rate_limited",
    "Too many failed authentications from this address. Retry later.",
    { retry_after_seconds: seconds },
    { "retry-after": String(seconds) },
  );
}
