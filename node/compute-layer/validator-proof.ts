/**
 * Validator proofs for provider agents that also validate (SPEC.md section 4: they earn a
 * bonus). The consensus layer holds the beacon state; this module turns it into what
 * `IProviderRegistry.proveValidator` checks on the execution layer: the validator's record and
 * the 50-node SSZ branch from it to the beacon block root that the EIP-4788 contract holds for
 * the execution head's timestamp (see precompiles/provider-registry/beacon-proof.ts).
 */
import { Tree } from "@chainsafe/persistent-merkle-tree";
import { bytesToHex, equalsBytes } from "@ethereumjs/util";
import { ssz } from "@lodestar/types";
import type { Hex } from "viem";
import {
  BRANCH_LENGTH,
  branchRoot,
  FAR_FUTURE_EPOCH,
  stateValidatorGindex,
  validatorGindex,
  validatorRoot,
} from "../../precompiles/provider-registry/beacon-proof.ts";
import type { BeaconChain } from "../consensus/chain/chain.ts";
import type { Blockchain } from "../execution/chain/blockchain.ts";

export interface ValidatorProof {
  beaconTimestamp: bigint;
  validatorIndex: bigint;
  validator: {
    pubkey: Hex;
    withdrawalCredentials: Hex;
    effectiveBalance: bigint;
    slashed: boolean;
    activationEligibilityEpoch: bigint;
    activationEpoch: bigint;
    exitEpoch: bigint;
    withdrawableEpoch: bigint;
  };
  branch: Hex[];
}

/** Makes validator proofs; undefined when the key is no validator (or the state is gone). */
export interface ValidatorProofSource {
  prove(pubkey: Uint8Array): Promise<ValidatorProof | undefined>;
}

/** Siblings of `gindex` in `tree`, leaf first. */
function siblings(tree: Tree, gindex: bigint): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let g = gindex; g > 1n; g >>= 1n) out.push(tree.getRoot(g ^ 1n));
  return out;
}

/**
 * Proofs from this node's own consensus layer: against the parent beacon block root of the
 * execution head (what EIP-4788 stored for the head's timestamp), using that block's
 * post-state, which the beacon chain keeps in memory for recent blocks.
 */
export function consensusValidatorProofs(beacon: BeaconChain, execution: Blockchain): ValidatorProofSource {
  return {
    async prove(pubkey) {
      const head = execution.head.header;
      const parentRoot = head.parentBeaconBlockRoot;
      if (parentRoot === undefined) return undefined;
      const root = bytesToHex(parentRoot);
      const state = beacon.peekState(root);
      if (state === undefined) return undefined;
      const index = state.epochCtx.getValidatorIndex(pubkey);
      if (index === null || index === undefined) return undefined;
      state.commit();
      const header = { ...state.latestBlockHeader.toValue(), stateRoot: state.hashTreeRoot() };
      const headerTree = new Tree(ssz.phase0.BeaconBlockHeader.toView(header).node);
      const stateTree = new Tree(state.node);
      const branch = [
        ...siblings(stateTree, stateValidatorGindex(BigInt(index))),
        ...siblings(headerTree, 11n),
      ];
      const v = state.validators.getReadonly(index);
      // Lodestar keeps FAR_FUTURE_EPOCH (2^64 - 1) as Infinity.
      const epoch = (e: number) => (Number.isFinite(e) ? BigInt(e) : FAR_FUTURE_EPOCH);
      const record = {
        pubkey: v.pubkey,
        withdrawalCredentials: v.withdrawalCredentials,
        effectiveBalance: BigInt(v.effectiveBalance),
        slashed: v.slashed,
        activationEligibilityEpoch: epoch(v.activationEligibilityEpoch),
        activationEpoch: epoch(v.activationEpoch),
        exitEpoch: epoch(v.exitEpoch),
        withdrawableEpoch: epoch(v.withdrawableEpoch),
      };
      // Check it here first: a proof that would not verify is never sent.
      if (branch.length !== BRANCH_LENGTH) return undefined;
      const computed = branchRoot(validatorRoot(record), branch, validatorGindex(BigInt(index)));
      if (!equalsBytes(computed, parentRoot)) return undefined;
      const hex = (b: Uint8Array) => bytesToHex(b) as Hex;
      return {
        beaconTimestamp: head.timestamp,
        validatorIndex: BigInt(index),
        validator: {
          ...record,
          pubkey: hex(record.pubkey),
          withdrawalCredentials: hex(record.withdrawalCredentials),
        },
        branch: branch.map(hex),
      };
    },
  };
}
