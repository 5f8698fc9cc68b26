/**
 * Verifying that a BLS key belongs to a beacon-chain validator, from the execution layer: an SSZ
 * Merkle branch from the validator's record in the beacon state up to a beacon block root that
 * the EIP-4788 contract holds (block root ◄ header.state_root ◄ state.validators[i]).
 *
 * Layout (Electra): BeaconBlockHeader has 5 fields (depth 3), state_root is field 3 → gindex 11.
 * BeaconState has 37 fields (depth 6), validators is field 11 → gindex 75; the list mixes in its
 * length (data root at 75·2 = 150) and holds up to 2^40 validators (depth 40). So validator `i`
 * sits at gindex 150·2^40 + i of the state (depth 47) and 11·2^47 + 22·2^40 + i of the block
 * root (depth 50): a branch is 50 sibling roots, leaf first.
 */
import { concatBytes } from "@ethereumjs/util";
import { sha256 } from "ethereum-cryptography/sha256";

export const FAR_FUTURE_EPOCH = 2n ** 64n - 1n;
export const BRANCH_LENGTH = 50;
/** The Electra gindex of validator `index`, from the beacon block root. */
export function validatorGindex(index: bigint): bigint {
  return 11n * 2n ** 47n + 22n * 2n ** 40n + index;
}
/** The gindex of validator `index` within the state (depth 47). */
export function stateValidatorGindex(index: bigint): bigint {
  return 150n * 2n ** 40n + index;
}

export interface BeaconValidatorRecord {
  pubkey: Uint8Array;
  withdrawalCredentials: Uint8Array;
  effectiveBalance: bigint;
  slashed: boolean;
  activationEligibilityEpoch: bigint;
  activationEpoch: bigint;
  exitEpoch: bigint;
  withdrawableEpoch: bigint;
}

const hash = (a: Uint8Array, b: Uint8Array) => sha256(concatBytes(a, b));

function uint64Leaf(n: bigint): Uint8Array {
  const leaf = new Uint8Array(32);
  new DataView(leaf.buffer).setBigUint64(0, n, true);
  return leaf;
}

/** hash_tree_root of an Electra `Validator`. */
export function validatorRoot(v: BeaconValidatorRecord): Uint8Array {
  if (v.pubkey.length !== 48) throw new Error("validator pubkey must be 48 bytes");
  if (v.withdrawalCredentials.length !== 32) throw new Error("withdrawal credentials must be 32 bytes");
  const pubkeyRoot = hash(v.pubkey.subarray(0, 32), setLengthRight(v.pubkey.subarray(32), 32));
  const leaves = [
    pubkeyRoot,
    v.withdrawalCredentials,
    uint64Leaf(v.effectiveBalance),
    uint64Leaf(v.slashed ? 1n : 0n),
    uint64Leaf(v.activationEligibilityEpoch),
    uint64Leaf(v.activationEpoch),
    uint64Leaf(v.exitEpoch),
    uint64Leaf(v.withdrawableEpoch),
  ];
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hash(level[i], level[i + 1]));
    level = next;
  }
  return level[0];
}

function setLengthRight(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(b.subarray(0, n));
  return out;
}

/** The root a branch (leaf first) leads to from `leaf` at generalized index `gindex`. */
export function branchRoot(leaf: Uint8Array, branch: readonly Uint8Array[], gindex: bigint): Uint8Array {
  let node = leaf;
  let g = gindex;
  for (const sibling of branch) {
    node = (g & 1n) === 1n ? hash(sibling, node) : hash(node, sibling);
    g >>= 1n;
  }
  if (g !== 1n) throw new Error(`branch of ${branch.length} nodes does not match gindex ${gindex}`);
  return node;
}
