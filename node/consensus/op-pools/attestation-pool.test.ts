import { SecretKey } from "@chainsafe/blst";
import { BitArray } from "@chainsafe/ssz";
import { ssz } from "@lodestar/types";
import { describe, expect, it } from "vitest";
import { AttestationPool } from "./attestation-pool.ts";

const data = { ...ssz.phase0.AttestationData.defaultValue(), slot: 5 };
const sig = (seed: number) =>
  SecretKey.fromKeygen(new Uint8Array(32).fill(seed + 1))
    .sign(new Uint8Array(32))
    .toBytes();
/** An aggregate of a 4-member committee (validators 10..13) with these positions voting. */
const aggregate = (positions: number[], seed: number) => ({
  data,
  committeeIndex: 0,
  aggregationBits: BitArray.fromBoolArray([0, 1, 2, 3].map((i) => positions.includes(i))),
  signature: sig(seed),
  attestingIndices: positions.map((p) => 10 + p),
});
const bitsOf = (pool: AttestationPool) => pool.aggregateFor(data, 0)?.aggregationBits.getTrueBitIndexes();

describe("attestation pool: aggregates from the network", () => {
  it("merges disjoint aggregates, replaces covered ones, never counts a vote twice", () => {
    const pool = new AttestationPool();
    expect(pool.addAggregate(aggregate([0], 1))).toBe(true);
    // Disjoint: OR-ed in.
    expect(pool.addAggregate(aggregate([2], 2))).toBe(true);
    expect(bitsOf(pool)).toEqual([0, 2]);
    expect(pool.size).toBe(2);
    // Nothing new.
    expect(pool.addAggregate(aggregate([0, 2], 3))).toBe(false);
    // Overlapping with more voters: replaces the entry (its signature covers all of them).
    expect(pool.addAggregate(aggregate([0, 1, 2], 4))).toBe(true);
    expect(bitsOf(pool)).toEqual([0, 1, 2]);
    // Overlapping with fewer voters: kept out.
    expect(pool.addAggregate(aggregate([2, 3], 5))).toBe(false);
    expect(pool.size).toBe(3);
    // A single vote of a new voter still joins.
    pool.add({
      data,
      committeeIndex: 0,
      committeeLength: 4,
      positionInCommittee: 3,
      validatorIndex: 13,
      signature: sig(6),
    });
    expect(bitsOf(pool)).toEqual([0, 1, 2, 3]);
    expect(pool.forBlock(6)).toHaveLength(1);
  });
});
