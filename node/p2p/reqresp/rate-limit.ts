/**
 * Per-peer, per-protocol token buckets for the responder. Each protocol has a bucket of
 * requests, and the block and blob protocols a second bucket of units (blocks, or blob bytes).
 * Requests and blocks beyond the bucket are refused (answer code 139 with the limit and when to
 * retry); blob bytes are paced instead (the spec lets a responder withhold chunks until it has
 * capacity, never refuse mid-response), so a large blob streams at the configured rate.
 *
 * Idle buckets refill to full and are forgotten, so memory follows active peers; a peer gains
 * nothing by reconnecting, since buckets are keyed by peer id, not by connection.
 */
import type { ProtocolKey } from "./protocols.ts";

export interface RateLimit {
  /** Bucket size: the most a peer may use at once. */
  burst: number;
  /** Refill per second. */
  perSecond: number;
}

export interface ProtocolRateLimit {
  requests: RateLimit;
  /** Blocks (block protocols) or bytes (blob); absent for the others. */
  units?: RateLimit;
}

export type RateLimits = Record<ProtocolKey, ProtocolRateLimit>;

const MiB = 1024 * 1024;

export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = {
  status: { requests: { burst: 5, perSecond: 0.5 } },
  goodbye: { requests: { burst: 2, perSecond: 0.1 } },
  ping: { requests: { burst: 5, perSecond: 0.5 } },
  metadata: { requests: { burst: 5, perSecond: 0.5 } },
  beaconBlocksByRange: { requests: { burst: 16, perSecond: 2 }, units: { burst: 1024, perSecond: 128 } },
  beaconBlocksByRoot: { requests: { burst: 16, perSecond: 2 }, units: { burst: 512, perSecond: 128 } },
  blob: { requests: { burst: 16, perSecond: 2 }, units: { burst: 32 * MiB, perSecond: 32 * MiB } },
};

/** A token bucket; the balance may go negative for pacing (a reservation to be waited out). */
export class TokenBucket {
  readonly limit: RateLimit;
  private tokens: number;
  private last: number;

  constructor(limit: RateLimit, now: number) {
    this.limit = limit;
    this.tokens = limit.burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(
        this.limit.burst,
        this.tokens + ((now - this.last) / 1000) * this.limit.perSecond,
      );
      this.last = now;
    }
  }

  /**
   * Takes `cost` tokens if the bucket holds them (a cost above the bucket size needs a full
   * bucket); else takes nothing and returns the milliseconds until it would succeed.
   */
  tryTake(cost: number, now: number): { ok: true } | { ok: false; retryMs: number } {
    this.refill(now);
    const need = Math.min(cost, this.limit.burst);
    if (this.tokens >= need) {
      this.tokens -= need;
      return { ok: true };
    }
    const retryMs =
      this.limit.perSecond > 0 ? Math.ceil(((need - this.tokens) / this.limit.perSecond) * 1000) : Infinity;
    return { ok: false, retryMs };
  }

  /** Takes `cost` tokens unconditionally; returns how many milliseconds to wait before using them. */
  reserve(cost: number, now: number): number {
    this.refill(now);
    this.tokens -= cost;
    if (this.tokens >= 0) return 0;
    return this.limit.perSecond > 0 ? Math.ceil((-this.tokens / this.limit.perSecond) * 1000) : Infinity;
  }

  /** Whether the bucket is full again at `now` (then it can be forgotten). */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }
}

export type BucketKind = "requests" | "units";

/** Buckets of every peer; `now` is injectable for tests. */
export class RateLimiter {
  private readonly limits: RateLimits;
  private readonly now: () => number;
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep: number;

  constructor(
    limits: Partial<Record<ProtocolKey, Partial<ProtocolRateLimit>>> = {},
    now: () => number = Date.now,
  ) {
    const merged = { ...DEFAULT_RATE_LIMITS } as RateLimits;
    for (const [key, value] of Object.entries(limits) as [ProtocolKey, Partial<ProtocolRateLimit>][]) {
      merged[key] = { ...DEFAULT_RATE_LIMITS[key], ...value };
    }
    this.limits = merged;
    this.now = now;
    this.lastSweep = now();
  }

  limitOf(protocol: ProtocolKey, kind: BucketKind): RateLimit | undefined {
    return this.limits[protocol][kind];
  }

  private bucket(peer: string, protocol: ProtocolKey, kind: BucketKind): TokenBucket | undefined {
    const limit = this.limits[protocol][kind];
    if (limit === undefined) return undefined;
    const now = this.now();
    if (now - this.lastSweep > 60_000) this.sweep(now);
    const key = `${peer}|${protocol}|${kind}`;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(limit, now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Takes `cost` from the peer's bucket or says when to retry (no bucket configured: always ok). */
  tryTake(
    peer: string,
    protocol: ProtocolKey,
    kind: BucketKind,
    cost: number,
  ): { ok: true } | { ok: false; retryMs: number } {
    return this.bucket(peer, protocol, kind)?.tryTake(cost, this.now()) ?? { ok: true };
  }

  /** Reserves `cost` and returns how long to wait before spending it (pacing). */
  reserve(peer: string, protocol: ProtocolKey, kind: BucketKind, cost: number): number {
    return this.bucket(peer, protocol, kind)?.reserve(cost, this.now()) ?? 0;
  }

  /** Buckets currently tracked (tests, metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }
}
