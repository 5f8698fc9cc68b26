/**
 * Fork choice: LMD-GHOST over a proto-array of known blocks, filtered by Casper FFG
 * (justified / finalized checkpoints), with proposer boost — the consensus-specs phase0
 * fork-choice rules as they stand through Electra (get_head, filter_block_tree, on_block,
 * on_attestation, on_attester_slashing, on_tick, pull-up tips), implemented by `ForkChoice`
 * in this folder.
 *
 * The fork choice never touches states: the chain hands it each block's summary, including the
 * justified/finalized checkpoints of the block's post-state (realized and unrealized), and, when
 * it asks for the head, the effective balances of the store's justified checkpoint state (the
 * weights of votes).
 *
 * Roots are lowercase 0x-prefixed hex (as `@lodestar/utils` `toRootHex` writes them): ties
 * between equally heavy siblings go to the lexicographically higher root, and for same-length
 * lowercase hex the string order is the byte order the spec uses.
 */

export type RootHex = string;

export interface Checkpoint {
  epoch: number;
  root: RootHex;
}

/** What the fork choice keeps of a block. Treated as immutable once handed over. */
export interface BlockSummary {
  slot: number;
  blockRoot: RootHex;
  parentRoot: RootHex;
  stateRoot: RootHex;
  /** Execution block hash of the block's payload (zero hash before the merge). */
  executionBlockHash: RootHex;
  executionBlockNumber: number;
  /** Checkpoints in the block's post-state. */
  justifiedCheckpoint: Checkpoint;
  finalizedCheckpoint: Checkpoint;
  /**
   * Checkpoints the post-state would have after processing justification at the next epoch
   * boundary (unrealized; spec `compute_pulled_up_tip`).
   */
  unrealizedJustifiedCheckpoint: Checkpoint;
  unrealizedFinalizedCheckpoint: Checkpoint;
  /** The epoch-boundary block root this block's epoch targets (for attestation target checks). */
  targetRoot: RootHex;
}

/** A snapshot of the store's clock and checkpoints. */
export interface ForkChoiceStore {
  currentSlot: number;
  justifiedCheckpoint: Checkpoint;
  finalizedCheckpoint: Checkpoint;
  unrealizedJustifiedCheckpoint: Checkpoint;
  unrealizedFinalizedCheckpoint: Checkpoint;
  /** The timely block of the current slot that receives the proposer boost, if any. */
  proposerBoostRoot: RootHex | null;
}

/**
 * Vote weights of the justified checkpoint state, indexed by validator index: each active,
 * unslashed validator's effective balance, 0 for the others (spec `get_weight` counts only
 * active unslashed validators). Any one unit works as long as it is always the same; the chain
 * should pass effective-balance increments (Lodestar's `EffectiveBalanceIncrements`, a
 * Uint16Array in units of EFFECTIVE_BALANCE_INCREMENT), which keeps every sum a small exact
 * integer. Gwei works too while the total stays below 2^53 Gwei (about 9.0M oGPU).
 */
export type JustifiedBalances = ArrayLike<number>;

export interface IForkChoice {
  /** Snapshot of the store (checkpoints, slot, proposer boost). */
  readonly store: ForkChoiceStore;

  /**
   * Advances the store's clock to `currentSlot` (on_tick, slot by slot): clears the proposer
   * boost at each new slot, realizes the unrealized checkpoints at each epoch start, and applies
   * queued attestations whose slot is now in the past. A slot at or before the current one is a
   * no-op.
   */
  updateTime(currentSlot: number): void;

  /**
   * on_block. `isTimely` marks a block that arrived before the attestation deadline of its own
   * slot; the first timely block of the current slot receives the proposer boost. A block
   * already known is ignored. Throws ForkChoiceError.
   */
  onBlock(block: BlockSummary, opts: { isTimely: boolean }): void;

  /**
   * on_attestation for a set of validators (already verified, e.g. an aggregate's attesting
   * indices) voting for `blockRoot` with `target`. `isFromBlock` attestations skip the
   * current-or-previous target epoch check (an included attestation may be older). Votes whose
   * slot is not yet in the past are queued and applied by `updateTime` (spec: "delay
   * consideration until their slot is in the past"). Throws ForkChoiceError.
   */
  onAttestation(
    validatorIndices: readonly number[],
    attestation: { slot: number; blockRoot: RootHex; target: Checkpoint },
    opts: { isFromBlock: boolean },
  ): void;

  /**
   * on_attester_slashing, with the intersection of the two attestations' indices:
   * equivocating validators' votes are removed at the next `updateHead` and ignored from then on.
   */
  onAttesterSlashing(validatorIndices: readonly number[]): void;

  /**
   * get_head: applies pending vote changes, the proposer boost and `justifiedBalances` (the
   * balances of the state at `store.justifiedCheckpoint`, read just before this call: the
   * checkpoint can change in onBlock and updateTime), then walks the viable tree from the
   * justified block. O(blocks + validators). Throws ForkChoiceError.
   */
  updateHead(justifiedBalances: JustifiedBalances): BlockSummary;

  /** The head as of the last `updateHead` (the anchor block before the first). */
  getHead(): BlockSummary;
  hasBlock(blockRoot: RootHex): boolean;
  getBlock(blockRoot: RootHex): BlockSummary | undefined;
  /**
   * Weight of a block as of the last `updateHead`: the votes for it and its descendants, plus
   * the proposer boost if it is the boosted block or one of its ancestors.
   */
  getWeight(blockRoot: RootHex): number | undefined;
  /**
   * Ancestor of `blockRoot` at `slot`: the block at or before that slot on its chain
   * (spec get_ancestor). Undefined when `blockRoot` is unknown or the chain is pruned there.
   */
  getAncestor(blockRoot: RootHex, slot: number): RootHex | undefined;
  /** Whether `descendantRoot` is `ancestorRoot` or one of its descendants (false if either is unknown). */
  isDescendant(ancestorRoot: RootHex, descendantRoot: RootHex): boolean;
  /** Blocks from `blockRoot` (included) back to (excluding) the store's finalized block. */
  iterateAncestors(blockRoot: RootHex): Iterable<BlockSummary>;
  /** Every block that is not a parent of another (chain tips). */
  getHeads(): BlockSummary[];
  /**
   * Drops every block that is not the store's finalized block or one of its descendants
   * (ancestors of the finalized block and abandoned forks); returns the dropped summaries.
   */
  prune(): BlockSummary[];
  /** The safe block (spec get_safe_beacon_block_root): the store's justified checkpoint root. */
  getSafeBeaconBlockRoot(): RootHex;
}
