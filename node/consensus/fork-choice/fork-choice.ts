/**
 * `ForkChoice`: the consensus-specs fork-choice store (phase0 fork-choice.md as it stands
 * through Electra) over a proto-array. It owns the store's rules and state: the clock (on_tick,
 * with epoch-start realization of unrealized checkpoints), the justified / finalized and
 * unrealized checkpoints, block admission (on_block), the latest-message votes (on_attestation,
 * with queuing of votes whose slot is not yet past), the equivocating validators
 * (on_attester_slashing), the proposer boost, head viability (filter_block_tree) and get_head.
 *
 * The proto-array (proto-array.ts) owns the tree and the weights. `updateHead` turns vote and
 * balance changes into per-node deltas, adds the proposer boost as one more delta, and lets the
 * array settle weights and best descendants in one backward pass with this module's viability
 * predicate; the head is then the justified block's best descendant. Each call costs
 * O(validators + blocks), none of it per-validator-per-block as the spec's literal get_weight.
 *
 * Departures from the spec text, all deliberate:
 * - The anchor block's checkpoints (justified, finalized, unrealized) are set to the anchor
 *   checkpoint, as spec get_forkchoice_store does for `unrealized_justifications[anchor]`; a
 *   checkpoint-synced anchor's own state may carry older checkpoints than the store starts with.
 * - An attestation whose slot is not yet past is queued, not refused, and applied once
 *   `updateTime` passes its slot (the spec says to delay its consideration).
 * - `prune` drops abandoned forks as well as the finalized block's ancestors: neither can be
 *   part of a viable chain again.
 */
import { ForkChoiceError, ForkChoiceErrorCode } from "./errors.ts";
import type {
  BlockSummary,
  Checkpoint,
  ForkChoiceStore,
  IForkChoice,
  JustifiedBalances,
  RootHex,
} from "./interface.ts";
import { computeDeltas, NONE, ProtoArray, type ProtoNode, VoteTable } from "./proto-array.ts";

/** Spec GENESIS_EPOCH: while the store's justified/finalized epoch is 0 every branch passes that check. */
const GENESIS_EPOCH = 0;

export interface ForkChoiceConfig {
  /** SLOTS_PER_EPOCH of the preset (mainnet 32, minimal 8). */
  slotsPerEpoch: number;
  /** PROPOSER_SCORE_BOOST: percent of a slot's committee weight given to a timely block (spec: 40). */
  proposerScoreBoost: number;
}

export interface ForkChoiceOptions {
  config: ForkChoiceConfig;
  /** The anchor: genesis, or the finalized block a checkpoint sync starts from. */
  anchor: BlockSummary;
  /**
   * Epoch of the anchor checkpoint (spec: the anchor state's current epoch). Defaults to the
   * epoch of the anchor block's slot; pass the state's epoch when the anchor state was advanced
   * past skipped slots to an epoch boundary.
   */
  anchorEpoch?: number;
  /** The clock's slot now (at least the anchor's slot). */
  currentSlot: number;
}

interface QueuedVote {
  validatorIndices: readonly number[];
  blockRoot: RootHex;
  targetEpoch: number;
}

export class ForkChoice implements IForkChoice {
  private readonly slotsPerEpoch: number;
  private readonly proposerScoreBoost: number;
  private readonly protoArray: ProtoArray;
  private readonly votes = new VoteTable();
  private readonly equivocating = new Set<number>();
  /** Votes from slots not yet past, keyed by slot; applied by updateTime. */
  private readonly queuedVotes = new Map<number, QueuedVote[]>();

  private currentSlot: number;
  private justified: Checkpoint;
  private finalized: Checkpoint;
  private unrealizedJustified: Checkpoint;
  private unrealizedFinalized: Checkpoint;
  private proposerBoostRoot: RootHex | null = null;

  /** Balances the current weights were computed with (a copy: the caller may reuse its array). */
  private appliedBalances: Float64Array = new Float64Array(0);
  /** The proposer boost currently inside the node weights: node index and score. */
  private appliedBoost = { index: NONE, score: 0 };
  private head: BlockSummary;

  constructor(opts: ForkChoiceOptions) {
    const { slotsPerEpoch, proposerScoreBoost } = opts.config;
    if (!Number.isSafeInteger(slotsPerEpoch) || slotsPerEpoch < 1) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_CONFIG,
        "slotsPerEpoch must be a positive integer",
        {
          slotsPerEpoch,
        },
      );
    }
    if (!Number.isSafeInteger(proposerScoreBoost) || proposerScoreBoost < 0 || proposerScoreBoost > 100) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_CONFIG,
        "proposerScoreBoost must be a percentage",
        {
          proposerScoreBoost,
        },
      );
    }
    if (opts.currentSlot < opts.anchor.slot) {
      throw new ForkChoiceError(ForkChoiceErrorCode.INVALID_CONFIG, "current slot is before the anchor", {
        currentSlot: opts.currentSlot,
        anchorSlot: opts.anchor.slot,
      });
    }
    this.slotsPerEpoch = slotsPerEpoch;
    this.proposerScoreBoost = proposerScoreBoost;

    const checkpoint: Checkpoint = {
      epoch: opts.anchorEpoch ?? this.epochAt(opts.anchor.slot),
      root: opts.anchor.blockRoot,
    };
    const anchor: BlockSummary = {
      ...opts.anchor,
      justifiedCheckpoint: checkpoint,
      finalizedCheckpoint: checkpoint,
      unrealizedJustifiedCheckpoint: checkpoint,
      unrealizedFinalizedCheckpoint: checkpoint,
    };
    this.protoArray = new ProtoArray(anchor);
    this.currentSlot = opts.currentSlot;
    this.justified = checkpoint;
    this.finalized = checkpoint;
    this.unrealizedJustified = checkpoint;
    this.unrealizedFinalized = checkpoint;
    this.head = anchor;
  }

  get store(): ForkChoiceStore {
    return {
      currentSlot: this.currentSlot,
      justifiedCheckpoint: { ...this.justified },
      finalizedCheckpoint: { ...this.finalized },
      unrealizedJustifiedCheckpoint: { ...this.unrealizedJustified },
      unrealizedFinalizedCheckpoint: { ...this.unrealizedFinalized },
      proposerBoostRoot: this.proposerBoostRoot,
    };
  }

  // --- on_tick ---------------------------------------------------------------------------------

  updateTime(currentSlot: number): void {
    if (currentSlot <= this.currentSlot) return;
    const previousSlot = this.currentSlot;
    this.currentSlot = currentSlot;
    // on_tick_per_slot for every slot passed: each new slot clears the boost; each epoch start
    // realizes the unrealized checkpoints, which no slot in between can change, so doing it
    // once when any epoch start was crossed is the same.
    this.proposerBoostRoot = null;
    if (this.epochAt(currentSlot) > this.epochAt(previousSlot)) {
      this.updateCheckpoints(this.unrealizedJustified, this.unrealizedFinalized);
    }
    for (const [slot, queued] of this.queuedVotes) {
      if (slot >= currentSlot) continue;
      this.queuedVotes.delete(slot);
      for (const vote of queued) this.applyVote(vote.validatorIndices, vote.blockRoot, vote.targetEpoch);
    }
  }

  // --- on_block --------------------------------------------------------------------------------

  onBlock(block: BlockSummary, opts: { isTimely: boolean }): void {
    if (this.protoArray.getIndex(block.blockRoot) !== undefined) return;
    const parentIndex = this.protoArray.getIndex(block.parentRoot);
    if (parentIndex === undefined) {
      throw new ForkChoiceError(ForkChoiceErrorCode.UNKNOWN_PARENT, "parent block unknown", {
        blockRoot: block.blockRoot,
        parentRoot: block.parentRoot,
        slot: block.slot,
      });
    }
    if (block.slot > this.currentSlot) {
      throw new ForkChoiceError(ForkChoiceErrorCode.FUTURE_SLOT, "block is from a future slot", {
        blockRoot: block.blockRoot,
        slot: block.slot,
        currentSlot: this.currentSlot,
      });
    }
    const finalizedSlot = this.startSlot(this.finalized.epoch);
    if (block.slot <= finalizedSlot) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.FINALIZED_SLOT,
        "block is at or before the finalized slot",
        {
          blockRoot: block.blockRoot,
          slot: block.slot,
          finalizedSlot,
        },
      );
    }
    if (this.checkpointBlock(parentIndex, this.finalized.epoch) !== this.finalized.root) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.NOT_DESCENDANT_OF_FINALIZED,
        "block does not descend from the finalized block",
        { blockRoot: block.blockRoot, finalizedRoot: this.finalized.root },
      );
    }
    const parentSlot = this.protoArray.node(parentIndex).block.slot;
    if (block.slot <= parentSlot) {
      throw new ForkChoiceError(ForkChoiceErrorCode.INVALID_BLOCK, "block slot is not after its parent's", {
        blockRoot: block.blockRoot,
        slot: block.slot,
        parentSlot,
      });
    }

    this.protoArray.add(block);

    // Proposer boost for the first timely block of the current slot.
    if (opts.isTimely && block.slot === this.currentSlot && this.proposerBoostRoot === null) {
      this.proposerBoostRoot = block.blockRoot;
    }
    this.updateCheckpoints(block.justifiedCheckpoint, block.finalizedCheckpoint);
    // compute_pulled_up_tip: the chain computed the unrealized checkpoints; a block from an
    // earlier epoch has already passed its epoch boundary, so they count as realized.
    this.updateUnrealizedCheckpoints(
      block.unrealizedJustifiedCheckpoint,
      block.unrealizedFinalizedCheckpoint,
    );
    if (this.epochAt(block.slot) < this.epochAt(this.currentSlot)) {
      this.updateCheckpoints(block.unrealizedJustifiedCheckpoint, block.unrealizedFinalizedCheckpoint);
    }
  }

  // --- on_attestation / on_attester_slashing ---------------------------------------------------

  onAttestation(
    validatorIndices: readonly number[],
    attestation: { slot: number; blockRoot: RootHex; target: Checkpoint },
    opts: { isFromBlock: boolean },
  ): void {
    const { slot, blockRoot, target } = attestation;
    const currentEpoch = this.epochAt(this.currentSlot);
    if (target.epoch > currentEpoch) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.FUTURE_EPOCH,
        "attestation target is from a future epoch",
        {
          targetEpoch: target.epoch,
          currentEpoch,
        },
      );
    }
    if (!opts.isFromBlock && target.epoch + 1 < currentEpoch) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.PAST_EPOCH,
        "attestation target is before the previous epoch",
        {
          targetEpoch: target.epoch,
          currentEpoch,
        },
      );
    }
    if (target.epoch !== this.epochAt(slot)) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_ATTESTATION,
        "target epoch is not the slot's epoch",
        {
          slot,
          targetEpoch: target.epoch,
        },
      );
    }
    if (this.protoArray.getIndex(target.root) === undefined) {
      throw new ForkChoiceError(ForkChoiceErrorCode.UNKNOWN_TARGET, "attestation target block unknown", {
        targetRoot: target.root,
        targetEpoch: target.epoch,
      });
    }
    const headIndex = this.protoArray.getIndex(blockRoot);
    if (headIndex === undefined) {
      throw new ForkChoiceError(ForkChoiceErrorCode.UNKNOWN_HEAD_BLOCK, "attested block unknown", {
        blockRoot,
      });
    }
    const headSlot = this.protoArray.node(headIndex).block.slot;
    if (headSlot > slot) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_ATTESTATION,
        "attested block is newer than the attestation",
        {
          blockRoot,
          blockSlot: headSlot,
          slot,
        },
      );
    }
    if (this.checkpointBlock(headIndex, target.epoch) !== target.root) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_ATTESTATION,
        "target is not the attested block's checkpoint block",
        { blockRoot, targetRoot: target.root, targetEpoch: target.epoch },
      );
    }
    // Attestations only affect the fork choice of later slots.
    if (slot >= this.currentSlot) {
      const queue = this.queuedVotes.get(slot);
      // Copied: the caller may reuse its array before the vote is applied.
      const vote = { validatorIndices: validatorIndices.slice(), blockRoot, targetEpoch: target.epoch };
      if (queue === undefined) this.queuedVotes.set(slot, [vote]);
      else queue.push(vote);
      return;
    }
    this.applyVote(validatorIndices, blockRoot, target.epoch);
  }

  onAttesterSlashing(validatorIndices: readonly number[]): void {
    for (const v of validatorIndices) this.equivocating.add(v);
  }

  // --- get_head --------------------------------------------------------------------------------

  updateHead(justifiedBalances: JustifiedBalances): BlockSummary {
    const balances = Float64Array.from(justifiedBalances);
    let total = 0;
    let valid = true;
    for (let v = 0; v < balances.length; v++) {
      const b = balances[v];
      if (!(b >= 0 && Math.floor(b) === b)) valid = false;
      total += b;
    }
    if (!valid || !Number.isSafeInteger(total)) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.INVALID_BALANCES,
        "justified balances must be non-negative integers with an exact sum",
        { total, validators: balances.length },
      );
    }

    const protoArray = this.protoArray;
    const deltas = computeDeltas(
      protoArray.length,
      this.votes,
      this.appliedBalances,
      balances,
      this.equivocating,
    );
    this.appliedBalances = balances;

    // Proposer boost: take the old one out, put the current one in (spec get_proposer_score).
    if (this.appliedBoost.index !== NONE) deltas[this.appliedBoost.index] -= this.appliedBoost.score;
    const boostIndex =
      this.proposerBoostRoot === null ? NONE : (protoArray.getIndex(this.proposerBoostRoot) ?? NONE);
    const boostScore =
      boostIndex === NONE
        ? 0
        : Math.floor((Math.floor(total / this.slotsPerEpoch) * this.proposerScoreBoost) / 100);
    if (boostIndex !== NONE) deltas[boostIndex] += boostScore;
    this.appliedBoost = { index: boostIndex, score: boostScore };

    protoArray.applyScoreChanges(deltas, this.viableLeafPredicate());

    const justifiedIndex = protoArray.getIndex(this.justified.root);
    if (justifiedIndex === undefined) {
      throw new ForkChoiceError(
        ForkChoiceErrorCode.UNKNOWN_JUSTIFIED_BLOCK,
        "justified block not in fork choice",
        {
          justifiedRoot: this.justified.root,
          justifiedEpoch: this.justified.epoch,
        },
      );
    }
    // Spec get_head starts at the justified block; with no viable branch below it, it stays there.
    const best = protoArray.node(justifiedIndex).bestDescendant;
    this.head = protoArray.node(best === NONE ? justifiedIndex : best).block;
    return this.head;
  }

  getHead(): BlockSummary {
    return this.head;
  }

  // --- queries ---------------------------------------------------------------------------------

  hasBlock(blockRoot: RootHex): boolean {
    return this.protoArray.getIndex(blockRoot) !== undefined;
  }

  getBlock(blockRoot: RootHex): BlockSummary | undefined {
    const index = this.protoArray.getIndex(blockRoot);
    return index === undefined ? undefined : this.protoArray.node(index).block;
  }

  getWeight(blockRoot: RootHex): number | undefined {
    const index = this.protoArray.getIndex(blockRoot);
    return index === undefined ? undefined : this.protoArray.node(index).weight;
  }

  getAncestor(blockRoot: RootHex, slot: number): RootHex | undefined {
    const index = this.protoArray.getIndex(blockRoot);
    if (index === undefined) return undefined;
    const ancestor = this.protoArray.ancestorAtSlot(index, slot);
    return ancestor === NONE ? undefined : this.protoArray.node(ancestor).block.blockRoot;
  }

  isDescendant(ancestorRoot: RootHex, descendantRoot: RootHex): boolean {
    const ancestor = this.protoArray.getIndex(ancestorRoot);
    const descendant = this.protoArray.getIndex(descendantRoot);
    if (ancestor === undefined || descendant === undefined) return false;
    return this.protoArray.isDescendant(ancestor, descendant);
  }

  *iterateAncestors(blockRoot: RootHex): Iterable<BlockSummary> {
    let index = this.protoArray.getIndex(blockRoot) ?? NONE;
    while (index !== NONE) {
      const node = this.protoArray.node(index);
      if (node.block.blockRoot === this.finalized.root) return;
      yield node.block;
      index = node.parent;
    }
  }

  getHeads(): BlockSummary[] {
    return this.protoArray.tips().map((i) => this.protoArray.node(i).block);
  }

  prune(): BlockSummary[] {
    const finalizedIndex = this.protoArray.getIndex(this.finalized.root);
    if (finalizedIndex === undefined) return [];
    const { removed, remap } = this.protoArray.prune(finalizedIndex);
    if (removed.length === 0) return removed;
    // Weight that sat on dropped nodes left with them (a dropped node's ancestors are all
    // dropped too), so votes and the boost pointing there simply become unset.
    this.votes.remap(remap);
    if (this.appliedBoost.index !== NONE) {
      const index = remap[this.appliedBoost.index];
      this.appliedBoost =
        index === NONE ? { index: NONE, score: 0 } : { index, score: this.appliedBoost.score };
    }
    return removed;
  }

  getSafeBeaconBlockRoot(): RootHex {
    return this.justified.root;
  }

  // --- internals -------------------------------------------------------------------------------

  private epochAt(slot: number): number {
    return Math.floor(slot / this.slotsPerEpoch);
  }

  private startSlot(epoch: number): number {
    return epoch * this.slotsPerEpoch;
  }

  /** Spec get_checkpoint_block: the block at the start of `epoch` on the chain of the node at `index`. */
  private checkpointBlock(index: number, epoch: number): RootHex | undefined {
    const ancestor = this.protoArray.ancestorAtSlot(index, this.startSlot(epoch));
    return ancestor === NONE ? undefined : this.protoArray.node(ancestor).block.blockRoot;
  }

  /** Spec update_latest_messages (equivocating validators excluded). */
  private applyVote(validatorIndices: readonly number[], blockRoot: RootHex, targetEpoch: number): void {
    // A queued vote's block can have been pruned meanwhile; it can no longer matter.
    const index = this.protoArray.getIndex(blockRoot);
    if (index === undefined) return;
    for (const v of validatorIndices) {
      if (this.equivocating.has(v)) continue;
      this.votes.setLatest(v, index, targetEpoch);
    }
  }

  /** Spec update_checkpoints. */
  private updateCheckpoints(justified: Checkpoint, finalized: Checkpoint): void {
    if (justified.epoch > this.justified.epoch) this.justified = justified;
    if (finalized.epoch > this.finalized.epoch) this.finalized = finalized;
  }

  /** Spec update_unrealized_checkpoints. */
  private updateUnrealizedCheckpoints(justified: Checkpoint, finalized: Checkpoint): void {
    if (justified.epoch > this.unrealizedJustified.epoch) this.unrealizedJustified = justified;
    if (finalized.epoch > this.unrealizedFinalized.epoch) this.unrealizedFinalized = finalized;
  }

  /**
   * The leaf test of spec filter_block_tree for the store as it is now: the voting source
   * (unrealized justification for blocks from a past epoch, realized for the current epoch)
   * must be the store's justified epoch or no more than two epochs old, and the block must
   * descend from the finalized checkpoint block.
   */
  private viableLeafPredicate(): (index: number, node: ProtoNode) => boolean {
    const currentEpoch = this.epochAt(this.currentSlot);
    const slotsPerEpoch = this.slotsPerEpoch;
    const justifiedEpoch = this.justified.epoch;
    const checkFinalized = this.finalized.epoch !== GENESIS_EPOCH;
    // Ancestor at the finalized checkpoint slot, for every node in one forward pass.
    const finalizedAncestors = checkFinalized
      ? this.protoArray.ancestorsAtSlot(this.startSlot(this.finalized.epoch))
      : null;
    // -2 never matches an ancestor index, NONE included: no node is viable if the block is gone.
    const finalizedIndex = checkFinalized ? (this.protoArray.getIndex(this.finalized.root) ?? -2) : -2;
    return (index, node) => {
      const block = node.block;
      const votingSource =
        Math.floor(block.slot / slotsPerEpoch) < currentEpoch
          ? block.unrealizedJustifiedCheckpoint
          : block.justifiedCheckpoint;
      const correctJustified =
        justifiedEpoch === GENESIS_EPOCH ||
        votingSource.epoch === justifiedEpoch ||
        votingSource.epoch + 2 >= currentEpoch;
      if (!correctJustified) return false;
      return finalizedAncestors === null || finalizedAncestors[index] === finalizedIndex;
    };
  }
}
