/**
 * The execution layer's check of a validator proof against Lodestar's own SSZ: the record's root
 * is `ssz.phase0.Validator.hashTreeRoot`, and a branch built from a real Electra state leads to
 * the block root for the right index only.
 */
import { Tree } from "@chainsafe/persistent-merkle-tree";
import { ssz } from "@lodestar/types";
import { describe, expect, it } from "vitest";
import {
  branchRoot,
  FAR_FUTURE_EPOCH,
  stateValidatorGindex,
  validatorGindex,
  validatorRoot,
} from "./beacon-proof.ts";

describe("beacon validator proofs", () => {
  const validator = {
    pubkey: new Uint8Array(48).fill(7),
    withdrawalCredentials: new Uint8Array(32).fill(1),
    effectiveBalance: 32_000_000_000,
    slashed: false,
    activationEligibilityEpoch: 0,
    activationEpoch: 0,
    exitEpoch: Number.POSITIVE_INFINITY,
    withdrawableEpoch: Number.POSITIVE_INFINITY,
  };
  const record = {
    ...validator,
    effectiveBalance: 32_000_000_000n,
    activationEligibilityEpoch: 0n,
    activationEpoch: 0n,
    exitEpoch: FAR_FUTURE_EPOCH,
    withdrawableEpoch: FAR_FUTURE_EPOCH,
  };

  it("computes a Validator's hash_tree_root as Lodestar does", () => {
    expect(validatorRoot(record)).toEqual(ssz.phase0.Validator.hashTreeRoot(validator));
    expect(validatorRoot({ ...record, slashed: true })).toEqual(
      ssz.phase0.Validator.hashTreeRoot({ ...validator, slashed: true }),
    );
  });

  it("follows a branch from a validator in an Electra state to the block root, and only that one", () => {
    const state = ssz.electra.BeaconState.defaultViewDU();
    for (let i = 0; i < 5; i++)
      state.validators.push(
        ssz.phase0.Validator.toViewDU({ ...validator, pubkey: new Uint8Array(48).fill(i + 1) }),
      );
    state.commit();
    const header = {
      slot: 9,
      proposerIndex: 2,
      parentRoot: new Uint8Array(32),
      stateRoot: state.hashTreeRoot(),
      bodyRoot: new Uint8Array(32).fill(3),
    };
    const blockRoot = ssz.phase0.BeaconBlockHeader.hashTreeRoot(header);
    const stateTree = new Tree(state.node);
    const headerTree = new Tree(ssz.phase0.BeaconBlockHeader.toView(header).node);
    const siblings = (tree: Tree, g: bigint) => {
      const out: Uint8Array[] = [];
      for (let x = g; x > 1n; x >>= 1n) out.push(tree.getRoot(x ^ 1n));
      return out;
    };
    const index = 3n;
    const branch = [...siblings(stateTree, stateValidatorGindex(index)), ...siblings(headerTree, 11n)];
    expect(branch).toHaveLength(50);
    const leaf = validatorRoot({ ...record, pubkey: new Uint8Array(48).fill(4) });
    expect(branchRoot(leaf, branch, validatorGindex(index))).toEqual(blockRoot);
    // Another index, another record, or a changed sibling lead elsewhere.
    expect(branchRoot(leaf, branch, validatorGindex(2n))).not.toEqual(blockRoot);
    expect(branchRoot(validatorRoot(record), branch, validatorGindex(index))).not.toEqual(blockRoot);
    const tampered = [...branch];
    tampered[10] = new Uint8Array(32).fill(9);
    expect(branchRoot(leaf, tampered, validatorGindex(index))).not.toEqual(blockRoot);
    expect(() => branchRoot(leaf, branch.slice(1), validatorGindex(index))).toThrow(/does not match/);
  });
});
