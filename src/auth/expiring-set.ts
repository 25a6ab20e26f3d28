/** Members that are forgotten after `ttlMs`, and the oldest first beyond `maxSize`. */
export class ExpiringSet {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSize: number,
    private readonly now: () => number = Date.now,
  ) {}

  has(member: string): boolean {
    const expiresAt = this.expiries.get(member);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.expiries.delete(member);
    return false;
  }

  add(member: string): void {
    this.expiries.delete(member);
    this.expiries.set(member, this.now() + this.ttlMs);
    if (this.expiries.size > this.maxSize) {
      const oldest = this.expiries.keys().next().value;
      if (oldest !== undefined) this.expiries.delete(oldest);
    }
  }
}
