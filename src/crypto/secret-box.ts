import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const SEALED_VERSION = "v1";
const TAG_LENGTH = 16;

/**
 * Keeps signing secrets encrypted at rest (AES-256-GCM) under a key derived from the pepper: the
 * dispatcher must read a secret back to sign, but the database alone never reveals one.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(pepper: string) {
    this.key = Buffer.from(hkdfSync("sha256", pepper, "whatisup", "webhook-signing-secrets", 32));
  }

  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const encrypted = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return `${SEALED_VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), encrypted]).toString("base64url")}`;
  }

  open(sealed: string): string {
    const [version, body] = sealed.split(":");
    if (version !== SEALED_VERSION || body === undefined) throw new Error("unknown sealed secret format");
    const bytes = Buffer.from(body, "base64url");
    // Without authTagLength GCM accepts a tag cut down to 4 bytes, which is far easier to forge.
    const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, 12), { authTagLength: TAG_LENGTH });
    decipher.setAuthTag(bytes.subarray(12, 12 + TAG_LENGTH));
    return Buffer.concat([decipher.update(bytes.subarray(12 + TAG_LENGTH)), decipher.final()]).toString("utf8");
  }
}
