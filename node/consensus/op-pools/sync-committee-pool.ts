/**
 * Sync committee messages waiting to become the next block's sync aggregate.
 *
 * Messages sign the head block root of their slot. A validator can hold several positions in
 * the committee; its signature counts once per position (the aggregate is verified against
 * one public key per set bit). The block at slot S carries the aggregate of slot S-1's
 * messages for its parent root; with no messages, the aggregate is empty and signed by the G2
 * point at infinity.
 */
import { aggregateSerializedSignatures } from "@chainsafe/blst";
import { BitArray } from "@chainsafe/ssz";
import { bytesToHex } from "@ethereumjs/util";
import { SYNC_COMMITTEE_SIZE } from "@lodestar/params";
import type { altair } from "@lodestar/types";

/** Compressed G2 point at infinity: the signature of an empty aggregate. */
export const G2_POINT_AT_INFINITY = (() => {
  const bytes = new Uint8Array(96);
  bytes[0] = 0xc0;
  return bytes;
})();

interface Contribution {
  bits: BitArray;
  signatures: Uint8Array[];
  seen: Set<number>;
}

export class SyncCommitteePool {
  private readonly bySlot = new Map<number, Map<string, Contribution>>();

  add(
    slot: number,
    blockRoot: Uint8Array,
    validatorIndex: number,
    positions: readonly number[],
    signature: Uint8Array,
  ): void {
    let roots = this.bySlot.get(slot);
    if (roots === undefined) {
      roots = new Map();
      this.bySlot.set(slot, roots);
    }
    const key = bytesToHex(blockRoot);
    let c = roots.get(key);
    if (c === undefined) {
      c = { bits: BitArray.fromBitLen(SYNC_COMMITTEE_SIZE), signatures: [], seen: new Set() };
      roots.set(key, c);
    }
    if (c.seen.has(validatorIndex)) return;
    c.seen.add(validatorIndex);
    for (const position of positions) {
      c.bits.set(position, true);
      c.signatures.push(signature);
    }
  }

  /** The sync aggregate for a block at `slot` whose parent is `parentRoot`. */
  aggregate(slot: number, parentRoot: Uint8Array): altair.SyncAggregate {
    const c = this.bySlot.get(slot - 1)?.get(bytesToHex(parentRoot));
    if (c === undefined || c.signatures.length === 0) {
      return {
        syncCommitteeBits: BitArray.fromBitLen(SYNC_COMMITTEE_SIZE),
        syncCommitteeSignature: G2_POINT_AT_INFINITY,
      };
    }
    return {
      syncCommitteeBits: c.bits.clone(),
      syncCommitteeSignature: aggregateSerializedSignatures(c.signatures).toBytes(),
    };
  }

  prune(slot: number): void {
    for (const s of this.bySlot.keys()) if (s < slot - 2) this.bySlot.delete(s);
  }
}
