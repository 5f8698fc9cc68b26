import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS, RateLimiter, TokenBucket } from "./rate-limit.ts";

describe("token bucket", () => {
  it("admits up to its burst, refills at its rate and says when to retry", () => {
    const bucket = new TokenBucket({ burst: 10, perSecond: 5 }, 0);
    expect(bucket.tryTake(8, 0)).toEqual({ ok: true });
    expect(bucket.tryTake(3, 0)).toEqual({ ok: false, retryMs: 200 });
    expect(bucket.tryTake(3, 200)).toEqual({ ok: true });
    // A cost above the burst needs (and takes) a full bucket.
    expect(bucket.tryTake(50, 200)).toEqual({ ok: false, retryMs: 2000 });
    expect(bucket.tryTake(50, 2200)).toEqual({ ok: true });
    expect(bucket.isFull(4200)).toBe(true);
  });

  it("reserves beyond its balance and returns the wait (pacing)", () => {
    const bucket = new TokenBucket({ burst: 100, perSecond: 100 }, 0);
    expect(bucket.reserve(60, 0)).toBe(0);
    expect(bucket.reserve(60, 0)).toBe(200);
    expect(bucket.reserve(10, 200)).toBe(100);
  });
});

describe("rate limiter", () => {
  it("keeps buckets per peer and protocol, merges overrides with the defaults and forgets idle peers", () => {
    let now = 0;
    const limiter = new RateLimiter({ ping: { requests: { burst: 1, perSecond: 1 } } }, () => now);
    expect(limiter.tryTake("a", "ping", "requests", 1).ok).toBe(true);
    expect(limiter.tryTake("a", "ping", "requests", 1).ok).toBe(false);
    expect(limiter.tryTake("b", "ping", "requests", 1).ok).toBe(true);
    expect(limiter.tryTake("a", "status", "requests", 1).ok).toBe(true);
    expect(limiter.limitOf("beaconBlocksByRange", "units")).toEqual(
      DEFAULT_RATE_LIMITS.beaconBlocksByRange.units,
    );
    // No unit bucket for status: always admitted.
    expect(limiter.tryTake("a", "status", "units", 1e9).ok).toBe(true);
    expect(limiter.size).toBe(3);
    now = 120_000;
    limiter.tryTake("c", "ping", "requests", 1);
    expect(limiter.size).toBe(1);
  });
});
