/**
 * Validation of messages that arrive from outside a block (gossip, the Beacon API), with the
 * verdict that drives peer scoring: ACCEPT (valid, forward it), IGNORE (not useful now: old,
 * duplicate, unknown block), REJECT (invalid: penalize the sender). Follows the consensus p2p
 * spec's gossip conditions as of Electra, in the spec's order, for `beacon_block`,
 * `beacon_aggregate_and_proof`, `beacon_attestation_{subnet_id}` (single attestations) and
 * `sync_committee_{subnet_id}`, with the seen-caches the spec asks for (first block per proposer
 * and slot, first aggregate per aggregator and epoch plus aggregation-bit supersets, first vote
 * per validator and target epoch, first sync message per validator, slot and subnet).
 *
 * Each verdict carries a short `code` (a metrics label) besides its human-readable `reason`.
 * Time checks allow the spec's MAXIMUM_GOSSIP_CLOCK_DISPARITY (500 ms) either way. Committees
 * come from the head state while it holds the shuffling of the message's epoch (previous,
 * current or next), else from the checkpoint state of the message's target.
 */
import { fastAggregateVerify, type PublicKey, Signature, verify } from "@chainsafe/blst";
import type { BitArray } from "@chainsafe/ssz";
import {
  DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_BEACON_ATTESTER,
  DOMAIN_BEACON_PROPOSER,
  DOMAIN_SELECTION_PROOF,
  DOMAIN_SYNC_COMMITTEE,
  EPOCHS_PER_SYNC_COMMITTEE_PERIOD,
  SYNC_COMMITTEE_SIZE,
  SYNC_COMMITTEE_SUBNET_COUNT,
} from "@lodestar/params";
import {
  computeEpochAtSlot,
  computeSigningRoot,
  computeStartSlotAtEpoch,
  isAggregatorFromCommitteeLength,
} from "@lodestar/state-transition";
import { type altair, type electra, type phase0, ssz } from "@lodestar/types";
import { LRUCache } from "lru-cache";
import type { SlotClock } from "../clock.ts";
import type { BeaconChain, BeaconState } from "./chain.ts";
import { toHex } from "./state-utils.ts";

export type GossipVerdict = "ACCEPT" | "IGNORE" | "REJECT";

export interface Verdict<T> {
  verdict: GossipVerdict;
  /** Human-readable reason (logs, API errors). */
  reason?: string;
  /** Short stable reason code (`invalid_signature`), for metrics. */
  code?: string;
  value?: T;
}

function ignore<T>(code: string, reason: string): Verdict<T> {
  return { verdict: "IGNORE", code, reason };
}
function reject<T>(code: string, reason: string): Verdict<T> {
  return { verdict: "REJECT", code, reason };
}

export interface ValidatedAttestation {
  attestation: electra.SingleAttestation;
  committeeLength: number;
  positionInCommittee: number;
  indexed: electra.IndexedAttestation;
}

export interface ValidatedAggregate {
  aggregate: electra.Attestation;
  committeeIndex: number;
  committeeLength: number;
  /** Attesting validators, ascending. */
  attestingIndices: number[];
  indexed: electra.IndexedAttestation;
}

export interface ValidatedSyncCommitteeMessage {
  /** The validator's positions in the sync committee (all subnets: the signature is the same). */
  positions: number[];
}

export interface ValidatedBlock {
  root: string;
}

/** Spec MAXIMUM_GOSSIP_CLOCK_DISPARITY, ms. */
export const MAXIMUM_GOSSIP_CLOCK_DISPARITY_MS = 500;
/** Block roots seen-caches remember. */
const SEEN_CACHE_SIZE = 65_536;
const SYNC_SUBCOMMITTEE_SIZE = SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT;

function nowMs(clock: SlotClock): number {
  return clock.slotStartMs(clock.currentSlot) + clock.msIntoSlot();
}

/** Spec is_future_slot. */
export function isFutureSlot(clock: SlotClock, slot: number): boolean {
  return nowMs(clock) + MAXIMUM_GOSSIP_CLOCK_DISPARITY_MS < clock.slotStartMs(slot);
}

/** Spec is_within_slot_range: now is within [slot, slot + range] with the disparity either way. */
export function isWithinSlotRange(clock: SlotClock, slot: number, range: number): boolean {
  const now = nowMs(clock);
  if (now + MAXIMUM_GOSSIP_CLOCK_DISPARITY_MS < clock.slotStartMs(slot)) return false;
  return clock.slotStartMs(slot + range + 1) + MAXIMUM_GOSSIP_CLOCK_DISPARITY_MS >= now;
}

/** Spec is_current_or_previous_epoch. */
export function isCurrentOrPreviousEpoch(clock: SlotClock, epoch: number): boolean {
  const within = (e: number) => isWithinSlotRange(clock, e * clock.slotsPerEpoch, clock.slotsPerEpoch - 1);
  return within(epoch) || within(epoch + 1);
}

function verifySignature(signingRoot: Uint8Array, pubkey: PublicKey, signature: Uint8Array): boolean {
  try {
    return verify(signingRoot, pubkey, Signature.fromBytes(signature, true));
  } catch {
    return false;
  }
}

/** A state holding the committees of `epoch`: the head state if it can, else the target's checkpoint state. */
async function committeeState(
  chain: BeaconChain,
  epoch: number,
  targetRoot: string,
): Promise<BeaconState | undefined> {
  const head = chain.headState;
  if (head.epochCtx.getShufflingAtEpochOrNull(epoch) !== null) return head;
  if (!chain.forkChoice.hasBlock(targetRoot)) return undefined;
  return chain.getCheckpointState({ epoch, root: targetRoot });
}

/**
 * The fork-choice conditions shared by attestations and aggregates: the voted block is known,
 * the target is its ancestor at the target epoch's start, and it descends from the finalized
 * checkpoint.
 */
function checkVoteTarget<T>(chain: BeaconChain, data: phase0.AttestationData): Verdict<T> | undefined {
  const blockRoot = toHex(data.beaconBlockRoot);
  if (!chain.forkChoice.hasBlock(blockRoot)) return ignore("unknown_block", `unknown block ${blockRoot}`);
  const checkpointBlock = chain.forkChoice.getAncestor(blockRoot, computeStartSlotAtEpoch(data.target.epoch));
  if (checkpointBlock === undefined)
    return ignore("unknown_target", `no ancestor of ${blockRoot} at the target epoch`);
  if (checkpointBlock !== toHex(data.target.root))
    return reject("target_not_ancestor", "target block is not an ancestor of the voted block");
  if (!chain.forkChoice.isDescendant(chain.finalizedCheckpoint.root, blockRoot))
    return ignore("not_finalized_descendant", "voted block does not descend from the finalized checkpoint");
  return undefined;
}

/** `beacon_attestation_{subnet_id}` (Electra SingleAttestation). */
export class AttestationValidator {
  private readonly chain: BeaconChain;
  /** (validator, target epoch) already seen. */
  private readonly seen = new LRUCache<string, true>({ max: SEEN_CACHE_SIZE });

  constructor(chain: BeaconChain) {
    this.chain = chain;
  }

  /** `subnet`: the subnet it arrived on (gossip); omitted for attestations from the Beacon API. */
  async validate(att: electra.SingleAttestation, subnet?: number): Promise<Verdict<ValidatedAttestation>> {
    const { data } = att;
    const { clock } = this.chain;
    if (data.index !== 0) return reject("nonzero_data_index", "Electra attestation data must have index 0");
    if (isFutureSlot(clock, data.slot))
      return ignore("future_slot", `slot ${data.slot} is in the future (current ${clock.currentSlot})`);
    const epoch = computeEpochAtSlot(data.slot);
    if (!isCurrentOrPreviousEpoch(clock, epoch))
      return ignore("old_epoch", `epoch ${epoch} is neither the current nor the previous one`);
    if (data.target.epoch !== epoch)
      return reject("target_epoch_mismatch", "target epoch does not match the slot");
    const state = await committeeState(this.chain, epoch, toHex(data.target.root));
    if (state === undefined)
      return ignore("unknown_target", "no state with the committees of the target epoch");
    const epochCtx = state.epochCtx;
    if (att.committeeIndex >= epochCtx.getCommitteeCountPerSlot(epoch))
      return reject("committee_index", `committee index ${att.committeeIndex} out of range`);
    if (subnet !== undefined) {
      const expected = epochCtx.computeSubnetForSlot(data.slot, att.committeeIndex);
      if (expected !== subnet)
        return reject("wrong_subnet", `attestation belongs to subnet ${expected}, arrived on ${subnet}`);
    }
    const committee = epochCtx.getBeaconCommittee(data.slot, att.committeeIndex);
    const position = committee.indexOf(att.attesterIndex);
    if (position < 0)
      return reject(
        "not_in_committee",
        `validator ${att.attesterIndex} is not in committee ${att.committeeIndex} of slot ${data.slot}`,
      );
    const seenKey = `${att.attesterIndex}:${data.target.epoch}`;
    if (this.seen.has(seenKey))
      return ignore("already_seen", "already seen a vote of this validator for this target");
    const signingRoot = computeSigningRoot(
      ssz.phase0.AttestationData,
      data,
      this.chain.config.getDomain(data.slot, DOMAIN_BEACON_ATTESTER),
    );
    if (!verifySignature(signingRoot, epochCtx.pubkeyCache.getOrThrow(att.attesterIndex), att.signature))
      return reject("invalid_signature", "invalid signature");
    const forkChoice = checkVoteTarget<ValidatedAttestation>(this.chain, data);
    if (forkChoice !== undefined) return forkChoice;
    // Checked again: another vote of this validator may have been accepted while we awaited the state.
    if (this.seen.has(seenKey))
      return ignore("already_seen", "already seen a vote of this validator for this target");
    this.seen.set(seenKey, true);
    return {
      verdict: "ACCEPT",
      value: {
        attestation: att,
        committeeLength: committee.length,
        positionInCommittee: position,
        indexed: { attestingIndices: [att.attesterIndex], data, signature: att.signature },
      },
    };
  }
}

/** `beacon_aggregate_and_proof` (Electra SignedAggregateAndProof). */
export class AggregateValidator {
  private readonly chain: BeaconChain;
  /** (target epoch, aggregator) already seen. */
  private readonly seenAggregators = new LRUCache<string, true>({ max: SEEN_CACHE_SIZE });
  /** (attestation data root, committee) → aggregation bits already seen. */
  private readonly seenBits = new LRUCache<string, BitArray[]>({ max: SEEN_CACHE_SIZE });

  constructor(chain: BeaconChain) {
    this.chain = chain;
  }

  async validate(signed: electra.SignedAggregateAndProof): Promise<Verdict<ValidatedAggregate>> {
    const { message } = signed;
    const { aggregate, aggregatorIndex } = message;
    const { data } = aggregate;
    const { clock, config } = this.chain;
    if (data.index !== 0) return reject("nonzero_data_index", "aggregate data index is non-zero");
    const committees = aggregate.committeeBits.getTrueBitIndexes();
    if (committees.length !== 1)
      return reject("committee_bits", "aggregate committee bits must name exactly one committee");
    const committeeIndex = committees[0];
    if (isFutureSlot(clock, data.slot))
      return ignore("future_slot", `slot ${data.slot} is in the future (current ${clock.currentSlot})`);
    const epoch = computeEpochAtSlot(data.slot);
    if (!isCurrentOrPreviousEpoch(clock, epoch))
      return ignore("old_epoch", `epoch ${epoch} is neither the current nor the previous one`);
    if (data.target.epoch !== epoch)
      return reject("target_epoch_mismatch", "target epoch does not match the slot");
    const state = await committeeState(this.chain, epoch, toHex(data.target.root));
    if (state === undefined)
      return ignore("unknown_target", "no state with the committees of the target epoch");
    const epochCtx = state.epochCtx;
    if (committeeIndex >= epochCtx.getCommitteeCountPerSlot(epoch))
      return reject("committee_index", `committee index ${committeeIndex} out of range`);
    const committee = epochCtx.getBeaconCommittee(data.slot, committeeIndex);
    if (aggregate.aggregationBits.bitLen !== committee.length)
      return reject("bits_length", "aggregation bits length does not match the committee size");
    const attesting = aggregate.aggregationBits.intersectValues(committee);
    if (attesting.length === 0) return reject("no_participants", "aggregate has no participants");
    const bitsKey = `${toHex(ssz.phase0.AttestationData.hashTreeRoot(data))}:${committeeIndex}`;
    const isCovered = () =>
      (this.seenBits.get(bitsKey) ?? []).some((prior) => isSuperset(prior, aggregate.aggregationBits));
    if (isCovered())
      return ignore("already_seen_bits", "an aggregate with a superset of these bits was seen");
    const aggregatorKey = `${data.target.epoch}:${aggregatorIndex}`;
    if (this.seenAggregators.has(aggregatorKey))
      return ignore("already_seen_aggregator", "already seen an aggregate of this aggregator for this epoch");
    if (!isAggregatorFromCommitteeLength(committee.length, message.selectionProof))
      return reject("not_aggregator", "the selection proof does not select the validator");
    if (!committee.includes(aggregatorIndex))
      return reject("aggregator_not_in_committee", `aggregator ${aggregatorIndex} is not in the committee`);
    const pubkey = epochCtx.pubkeyCache.getOrThrow(aggregatorIndex);
    const selectionRoot = computeSigningRoot(
      ssz.Slot,
      data.slot,
      config.getDomain(data.slot, DOMAIN_SELECTION_PROOF),
    );
    if (!verifySignature(selectionRoot, pubkey, message.selectionProof))
      return reject("invalid_selection_proof", "invalid selection proof");
    const wrapperRoot = computeSigningRoot(
      ssz.electra.AggregateAndProof,
      message,
      config.getDomain(data.slot, DOMAIN_AGGREGATE_AND_PROOF),
    );
    if (!verifySignature(wrapperRoot, pubkey, signed.signature))
      return reject("invalid_aggregator_signature", "invalid aggregator signature");
    const dataRoot = computeSigningRoot(
      ssz.phase0.AttestationData,
      data,
      config.getDomain(data.slot, DOMAIN_BEACON_ATTESTER),
    );
    let valid = false;
    try {
      valid = fastAggregateVerify(
        dataRoot,
        attesting.map((i) => epochCtx.pubkeyCache.getOrThrow(i)),
        Signature.fromBytes(aggregate.signature, true),
      );
    } catch {
      valid = false;
    }
    if (!valid) return reject("invalid_aggregate_signature", "invalid aggregate signature");
    const forkChoice = checkVoteTarget<ValidatedAggregate>(this.chain, data);
    if (forkChoice !== undefined) return forkChoice;
    // Checked again: the same aggregator or a covering aggregate may have won while we awaited.
    if (this.seenAggregators.has(aggregatorKey))
      return ignore("already_seen_aggregator", "already seen an aggregate of this aggregator for this epoch");
    if (isCovered())
      return ignore("already_seen_bits", "an aggregate with a superset of these bits was seen");
    this.seenAggregators.set(aggregatorKey, true);
    this.seenBits.set(bitsKey, [...(this.seenBits.get(bitsKey) ?? []), aggregate.aggregationBits.clone()]);
    const attestingIndices = [...attesting].sort((a, b) => a - b);
    return {
      verdict: "ACCEPT",
      value: {
        aggregate,
        committeeIndex,
        committeeLength: committee.length,
        attestingIndices,
        indexed: { attestingIndices, data, signature: aggregate.signature },
      },
    };
  }
}

/** Whether every bit set in `bits` is also set in `prior` (spec is_non_strict_superset). */
function isSuperset(prior: BitArray, bits: BitArray): boolean {
  if (prior.bitLen !== bits.bitLen) return false;
  for (let i = 0; i < bits.uint8Array.length; i++)
    if ((bits.uint8Array[i] & ~prior.uint8Array[i]) !== 0) return false;
  return true;
}

/** `sync_committee_{subnet_id}` (SyncCommitteeMessage). */
export class SyncCommitteeMessageValidator {
  private readonly chain: BeaconChain;
  /** (slot, validator, subnet) already seen. */
  private readonly seen = new LRUCache<string, true>({ max: SEEN_CACHE_SIZE });

  constructor(chain: BeaconChain) {
    this.chain = chain;
  }

  /**
   * The validator's positions in the committee that signs at `slot` (the committee of slot+1's
   * sync period, which verifies the aggregate in the next block), or undefined when the head is
   * too far behind to know it.
   */
  positionsOf(validatorIndex: number, slot: number): number[] | undefined {
    const state = this.chain.headState;
    const period = (s: number) => Math.floor(computeEpochAtSlot(s) / EPOCHS_PER_SYNC_COMMITTEE_PERIOD);
    const ahead = period(slot + 1) - period(state.slot);
    if (ahead !== 0 && ahead !== 1) return undefined;
    const committee =
      ahead === 0 ? state.epochCtx.currentSyncCommitteeIndexed : state.epochCtx.nextSyncCommitteeIndexed;
    return committee.validatorIndexMap.get(validatorIndex) ?? [];
  }

  /** The subnets a validator's messages for `slot` go to (spec compute_subnets_for_sync_committee). */
  subnetsOf(validatorIndex: number, slot: number): number[] {
    const positions = this.positionsOf(validatorIndex, slot) ?? [];
    return [...new Set(positions.map((p) => Math.floor(p / SYNC_SUBCOMMITTEE_SIZE)))];
  }

  validate(msg: altair.SyncCommitteeMessage, subnet: number): Verdict<ValidatedSyncCommitteeMessage> {
    const { clock, config } = this.chain;
    if (!isWithinSlotRange(clock, msg.slot, 0))
      return ignore("not_current_slot", `slot ${msg.slot} is not the current slot ${clock.currentSlot}`);
    const state = this.chain.headState;
    if (msg.validatorIndex >= state.validators.length)
      return reject("validator_index", `validator ${msg.validatorIndex} out of range`);
    const positions = this.positionsOf(msg.validatorIndex, msg.slot);
    if (positions === undefined)
      return ignore("head_behind", "head too far behind to know the sync committee");
    const subnets = new Set(positions.map((p) => Math.floor(p / SYNC_SUBCOMMITTEE_SIZE)));
    if (!subnets.has(subnet))
      return reject("wrong_subnet", `validator ${msg.validatorIndex} has no position on subnet ${subnet}`);
    const key = `${msg.slot}:${msg.validatorIndex}:${subnet}`;
    if (this.seen.has(key))
      return ignore("already_seen", "already seen this validator's message for the slot");
    const signingRoot = computeSigningRoot(
      ssz.Root,
      msg.beaconBlockRoot,
      config.getDomain(msg.slot, DOMAIN_SYNC_COMMITTEE),
    );
    if (
      !verifySignature(signingRoot, state.epochCtx.pubkeyCache.getOrThrow(msg.validatorIndex), msg.signature)
    )
      return reject("invalid_signature", "invalid signature");
    this.seen.set(key, true);
    return { verdict: "ACCEPT", value: { positions } };
  }
}

/**
 * `beacon_block`: the spec's gossip conditions checked before the block is imported. A block
 * whose parent is unknown is IGNOREd with code `parent_unknown` (the sync layer fetches it).
 * Import itself (state transition, all signatures, the execution payload) follows in
 * `BeaconChain.importBlock`, whose BlockError decides between REJECT and IGNORE.
 */
export class BlockGossipValidator {
  private readonly chain: BeaconChain;
  /** (slot, proposer) of blocks with a valid proposer signature already seen. */
  private readonly seen = new LRUCache<string, true>({ max: SEEN_CACHE_SIZE });

  constructor(chain: BeaconChain) {
    this.chain = chain;
  }

  /** Marks our own proposal as seen (a second block of ours for the slot is then IGNOREd). */
  markSeen(slot: number, proposerIndex: number): void {
    this.seen.set(`${slot}:${proposerIndex}`, true);
  }

  /** `root`: the block's root when the caller already computed it. */
  async validate(signed: electra.SignedBeaconBlock, root?: string): Promise<Verdict<ValidatedBlock>> {
    const block = signed.message;
    const { chain } = this;
    const { clock, config, forkChoice } = chain;
    if (isFutureSlot(clock, block.slot))
      return ignore("future_slot", `slot ${block.slot} is in the future (current ${clock.currentSlot})`);
    const finalizedSlot = computeStartSlotAtEpoch(chain.finalizedCheckpoint.epoch);
    if (block.slot <= finalizedSlot)
      return ignore("finalized_slot", `slot ${block.slot} is not after the finalized slot ${finalizedSlot}`);
    const blockRoot = root ?? toHex(ssz.electra.BeaconBlock.hashTreeRoot(block));
    if (forkChoice.hasBlock(blockRoot)) return ignore("already_known", `block ${blockRoot} already known`);
    const seenKey = `${block.slot}:${block.proposerIndex}`;
    if (this.seen.has(seenKey))
      return ignore(
        "repeat_proposal",
        `already seen a block of proposer ${block.proposerIndex} at slot ${block.slot}`,
      );
    const head = chain.headState;
    if (block.proposerIndex >= head.validators.length)
      return reject("proposer_index", `proposer ${block.proposerIndex} out of range`);
    const signingRoot = computeSigningRoot(
      ssz.electra.BeaconBlock,
      block,
      config.getDomain(block.slot, DOMAIN_BEACON_PROPOSER),
    );
    if (
      !verifySignature(
        signingRoot,
        head.epochCtx.pubkeyCache.getOrThrow(block.proposerIndex),
        signed.signature,
      )
    )
      return reject("invalid_signature", "invalid proposer signature");
    const parentRoot = toHex(block.parentRoot);
    const parent = forkChoice.getBlock(parentRoot);
    if (parent === undefined)
      return { ...ignore("parent_unknown", `parent ${parentRoot} is unknown`), value: { root: blockRoot } };
    if (this.seen.has(seenKey))
      return ignore(
        "repeat_proposal",
        `already seen a block of proposer ${block.proposerIndex} at slot ${block.slot}`,
      );
    this.seen.set(seenKey, true);
    if (block.slot <= parent.slot) return reject("slot_not_after_parent", "block is not after its parent");
    if (!forkChoice.isDescendant(chain.finalizedCheckpoint.root, parentRoot))
      return reject("not_finalized_descendant", "the finalized checkpoint is not an ancestor of the block");
    const expectedTime = clock.genesisTime + block.slot * clock.secondsPerSlot;
    if (block.body.executionPayload.timestamp !== expectedTime)
      return reject(
        "payload_timestamp",
        `payload timestamp ${block.body.executionPayload.timestamp} != ${expectedTime}`,
      );
    if (block.body.blobKzgCommitments.length > config.MAX_BLOBS_PER_BLOCK_ELECTRA)
      return reject("too_many_blobs", "too many blob KZG commitments");
    const parentState = await chain.getState(parentRoot);
    const epoch = computeEpochAtSlot(block.slot);
    const proposerState =
      parentState.epochCtx.epoch === epoch
        ? parentState
        : await chain.getCheckpointState({ epoch, root: parentRoot });
    const expected = proposerState.epochCtx.getBeaconProposer(block.slot);
    if (expected !== block.proposerIndex)
      return reject(
        "wrong_proposer",
        `proposer ${block.proposerIndex} is not the slot's proposer ${expected}`,
      );
    return { verdict: "ACCEPT", value: { root: blockRoot } };
  }
}
