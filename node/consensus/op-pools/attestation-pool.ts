/**
 * Attestations waiting for inclusion, aggregated as they arrive.
 *
 * Single attestations (one validator, one committee) are merged per (attestation data,
 * committee): the committee's participation bits are OR-ed and the signatures aggregated.
 * For a block, each distinct attestation data becomes one Electra attestation spanning all
 * committees that voted for it (`committee_bits` + concatenated `aggregation_bits`), best first
 * (most new participants). Attestations older than the previous epoch, or not yet includable
 * (same slot as the block), are skipped; old entries are pruned every slot.
 */
import { aggregateSerializedSignatures } from "@chainsafe/blst";
import { BitArray } from "@chainsafe/ssz";
import { bytesToHex } from "@ethereumjs/util";
import {
  MAX_ATTESTATIONS_ELECTRA,
  MAX_COMMITTEES_PER_SLOT,
  MIN_ATTESTATION_INCLUSION_DELAY,
  SLOTS_PER_EPOCH,
} from "@lodestar/params";
import { type electra, type phase0, ssz } from "@lodestar/types";

interface CommitteeVotes {
  committeeIndex: number;
  bits: BitArray;
  signatures: Uint8Array[];
  /** Validator indices already counted (a validator may resend the same vote). */
  seen: Set<number>;
}

interface DataGroup {
  data: phase0.AttestationData;
  committees: Map<number, CommitteeVotes>;
}

export interface SingleVote {
  data: phase0.AttestationData;
  committeeIndex: number;
  committeeLength: number;
  /** Position of the validator in its committee. */
  positionInCommittee: number;
  validatorIndex: number;
  signature: Uint8Array;
}

export class AttestationPool {
  private readonly groups = new Map<string, DataGroup>();

  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) for (const c of g.committees.values()) n += c.seen.size;
    return n;
  }

  add(vote: SingleVote): void {
    const key = bytesToHex(ssz.phase0.AttestationData.hashTreeRoot(vote.data));
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { data: vote.data, committees: new Map() };
      this.groups.set(key, group);
    }
    let committee = group.committees.get(vote.committeeIndex);
    if (committee === undefined) {
      committee = {
        committeeIndex: vote.committeeIndex,
        bits: BitArray.fromBitLen(vote.committeeLength),
        signatures: [],
        seen: new Set(),
      };
      group.committees.set(vote.committeeIndex, committee);
    }
    if (committee.seen.has(vote.validatorIndex)) return;
    committee.seen.add(vote.validatorIndex);
    committee.bits.set(vote.positionInCommittee, true);
    committee.signatures.push(vote.signature);
  }

  /**
   * An aggregate of one committee's votes received from the network (already validated). Its
   * signature cannot be split, so it is merged only where that counts no vote twice: into a
   * committee entry with no voter in common (bits OR-ed, signature added), or in place of an
   * entry whose voters it includes; a partly overlapping aggregate replaces the entry only when
   * it has more voters. Returns whether the pool gained votes.
   */
  addAggregate(aggregate: {
    data: phase0.AttestationData;
    committeeIndex: number;
    aggregationBits: BitArray;
    signature: Uint8Array;
    /** The voters, as validator indices (the bits resolved against the committee). */
    attestingIndices: readonly number[];
  }): boolean {
    const key = bytesToHex(ssz.phase0.AttestationData.hashTreeRoot(aggregate.data));
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { data: aggregate.data, committees: new Map() };
      this.groups.set(key, group);
    }
    const fresh = (): CommitteeVotes => ({
      committeeIndex: aggregate.committeeIndex,
      bits: aggregate.aggregationBits.clone(),
      signatures: [aggregate.signature],
      seen: new Set(aggregate.attestingIndices),
    });
    const committee = group.committees.get(aggregate.committeeIndex);
    if (committee === undefined) {
      group.committees.set(aggregate.committeeIndex, fresh());
      return aggregate.attestingIndices.length > 0;
    }
    const common = aggregate.attestingIndices.filter((i) => committee.seen.has(i)).length;
    if (common === aggregate.attestingIndices.length) return false;
    if (common === 0) {
      committee.bits.mergeOrWith(aggregate.aggregationBits);
      committee.signatures.push(aggregate.signature);
      for (const i of aggregate.attestingIndices) committee.seen.add(i);
      return true;
    }
    if (common === committee.seen.size || aggregate.attestingIndices.length > committee.seen.size) {
      group.committees.set(aggregate.committeeIndex, fresh());
      return true;
    }
    return false;
  }

  /**
   * The aggregate of one committee's votes for `data` (what an aggregator publishes): one
   * committee bit set, the committee's aggregation bits, the aggregate signature.
   */
  aggregateFor(data: phase0.AttestationData, committeeIndex: number): electra.Attestation | undefined {
    const group = this.groups.get(bytesToHex(ssz.phase0.AttestationData.hashTreeRoot(data)));
    const committee = group?.committees.get(committeeIndex);
    if (committee === undefined || committee.signatures.length === 0) return undefined;
    const committeeBits = BitArray.fromBitLen(MAX_COMMITTEES_PER_SLOT);
    committeeBits.set(committeeIndex, true);
    return {
      aggregationBits: committee.bits.clone(),
      data,
      signature: aggregateSerializedSignatures(committee.signatures).toBytes(),
      committeeBits,
    };
  }

  /** Attestations to include in a block at `slot`, best first. */
  forBlock(
    slot: number,
    isIncluded?: (data: phase0.AttestationData, validatorIndex: number) => boolean,
  ): electra.Attestation[] {
    const minSlot = Math.max(0, (Math.floor(slot / SLOTS_PER_EPOCH) - 1) * SLOTS_PER_EPOCH);
    const candidates: { attestation: electra.Attestation; score: number }[] = [];
    for (const group of this.groups.values()) {
      const dataSlot = group.data.slot;
      if (dataSlot + MIN_ATTESTATION_INCLUSION_DELAY > slot || dataSlot < minSlot) continue;
      const committees = [...group.committees.values()].sort((a, b) => a.committeeIndex - b.committeeIndex);
      let score = 0;
      for (const c of committees)
        for (const v of c.seen) if (isIncluded === undefined || !isIncluded(group.data, v)) score++;
      if (score === 0) continue;
      const committeeBits = BitArray.fromBitLen(MAX_COMMITTEES_PER_SLOT);
      const totalBits = committees.reduce((s, c) => s + c.bits.bitLen, 0);
      const aggregationBits = BitArray.fromBitLen(totalBits);
      let offset = 0;
      const signatures: Uint8Array[] = [];
      for (const c of committees) {
        committeeBits.set(c.committeeIndex, true);
        for (let i = 0; i < c.bits.bitLen; i++) if (c.bits.get(i)) aggregationBits.set(offset + i, true);
        offset += c.bits.bitLen;
        signatures.push(...c.signatures);
      }
      candidates.push({
        attestation: {
          aggregationBits,
          data: group.data,
          signature: aggregateSerializedSignatures(signatures).toBytes(),
          committeeBits,
        },
        score,
      });
    }
    candidates.sort((a, b) => b.score - a.score);
    return candidates.slice(0, MAX_ATTESTATIONS_ELECTRA).map((c) => c.attestation);
  }

  /** Drops attestations too old to be included at `slot`. */
  prune(slot: number): void {
    const minSlot = Math.max(0, (Math.floor(slot / SLOTS_PER_EPOCH) - 1) * SLOTS_PER_EPOCH);
    for (const [key, group] of this.groups) if (group.data.slot < minSlot) this.groups.delete(key);
  }
}
