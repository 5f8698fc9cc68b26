/**
 * The beacon chain: imports blocks (state transition with signatures, execution payload through
 * the Engine API, fork choice), keeps states of recent blocks, follows the head, and tells the
 * execution layer about head / safe / finalized blocks.
 *
 *   block ─► checks (known, parent, slot, finalized) ─► pre-state (cache or regen)
 *         ─► stateTransition (Lodestar: signatures, proposer, state root)
 *         ─► engine.newPayloadV4 (EL validates and stores the payload)
 *         ─► fork choice onBlock + its attestations ─► DB ─► updateHead ─► engine.forkchoiceUpdatedV3
 *
 * States: post-states of recent blocks in an LRU, checkpoint states (a block's state advanced to
 * an epoch boundary) for justified balances and attestation targets, and the finalized
 * checkpoint state on disk (the anchor a restart begins from).
 */
import { hexToBytes } from "@ethereumjs/util";
import type { BeaconConfig } from "@lodestar/config";
import { ForkSeq, SLOTS_PER_EPOCH } from "@lodestar/params";
import {
  type CachedBeaconStateElectra,
  computeEpochAtSlot,
  computeStartSlotAtEpoch,
  createCachedBeaconState,
  DataAvailabilityStatus,
  ExecutionPayloadStatus,
  getEffectiveBalanceIncrementsZeroInactive,
  processSlots,
  stateTransition,
} from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { LRUCache } from "lru-cache";
import type { ExecutionEngine, Hex } from "../../execution/engine/types.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import type { SlotClock } from "../clock.ts";
import type { BeaconDB } from "../db/beacon-db.ts";
import { BeaconMeta } from "../db/beacon-db.ts";
import { payloadToJson, requestsToEngine } from "../execution/payload.ts";
import type { BlockSummary, Checkpoint, IForkChoice } from "../fork-choice/interface.ts";
import { BlockError, BlockErrorCode } from "./errors.ts";
import { blockSignatureSets, verifySignatureSets } from "./signatures.ts";
import { checkpointOf, targetRootOf, toHex, unrealizedCheckpoints } from "./state-utils.ts";

export type BeaconState = CachedBeaconStateElectra;

export interface ChainEvents {
  /** A block was imported (not necessarily the head). */
  block: (e: {
    root: string;
    slot: number;
    block: electra.SignedBeaconBlock;
    postState: BeaconState;
  }) => void;
  /** The head changed. */
  head: (e: {
    root: string;
    slot: number;
    previous: string;
    reorg: boolean;
    depth: number;
    state: BeaconState;
  }) => void;
  /** The finalized checkpoint advanced. */
  finalized: (e: { checkpoint: Checkpoint; stateRoot: string }) => void;
  /** The justified checkpoint advanced. */
  justified: (e: { checkpoint: Checkpoint }) => void;
}

export interface ChainMetricsSink {
  onBlockImported?(timings: {
    stateTransitionMs: number;
    signaturesMs: number;
    executionMs: number;
    totalMs: number;
    attestations: number;
  }): void;
  onHead?(slot: number, finalizedEpoch: number, justifiedEpoch: number): void;
  onReorg?(depth: number): void;
}

export interface ChainModules {
  config: BeaconConfig;
  db: BeaconDB;
  engine: ExecutionEngine;
  forkChoice: IForkChoice;
  clock: SlotClock;
  logger: Logger;
  metrics?: ChainMetricsSink;
}

export interface ImportOptions {
  /** Verify BLS signatures (off only for blocks replayed from our own database). */
  verifySignatures?: boolean;
  /** Arrived before the attestation deadline of its slot (proposer boost). */
  isTimely?: boolean;
  /** Do not write the block to the database (it is being replayed from it). */
  replay?: boolean;
}

const ZERO_HASH = `0x${"00".repeat(32)}` as Hex;
/** Post-states kept in memory: a few epochs of blocks on the minimal preset. */
const STATE_CACHE_SIZE = 96;
/** Checkpoint states kept in memory (justified/finalized and recent epoch boundaries). */
const CHECKPOINT_CACHE_SIZE = 16;
/** A block this far (ms) past its slot start is still timely for proposer boost (spec: 1/3 slot). */
const TIMELY_FRACTION = 1 / 3;

export class BeaconChain extends TypedEmitter<ChainEvents> {
  readonly config: BeaconConfig;
  readonly db: BeaconDB;
  readonly engine: ExecutionEngine;
  readonly forkChoice: IForkChoice;
  readonly clock: SlotClock;
  readonly genesisRoot: string;
  private readonly logger: Logger;
  private readonly metrics: ChainMetricsSink | undefined;
  private readonly states = new LRUCache<string, BeaconState>({ max: STATE_CACHE_SIZE });
  private readonly checkpointStates = new LRUCache<string, BeaconState>({ max: CHECKPOINT_CACHE_SIZE });
  private readonly balancesCache = new LRUCache<string, ArrayLike<number>>({ max: 8 });
  private headRoot: string;
  /** The finalized checkpoint already persisted as the anchor (finalization work done up to here). */
  private lastFinalized: Checkpoint;
  private lock: Promise<void> = Promise.resolve();

  constructor(modules: ChainModules, anchor: { root: string; state: BeaconState }, genesisRoot: string) {
    super();
    this.config = modules.config;
    this.db = modules.db;
    this.engine = modules.engine;
    this.forkChoice = modules.forkChoice;
    this.clock = modules.clock;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
    this.genesisRoot = genesisRoot;
    this.headRoot = anchor.root;
    this.lastFinalized = { epoch: computeEpochAtSlot(anchor.state.slot), root: anchor.root };
    this.states.set(anchor.root, anchor.state);
    const epoch = computeEpochAtSlot(anchor.state.slot);
    this.checkpointStates.set(cpKey({ epoch, root: anchor.root }), anchor.state);
  }

  // --- queries ---------------------------------------------------------------------------

  get head(): BlockSummary {
    return this.forkChoice.getBlock(this.headRoot) ?? this.forkChoice.getHead();
  }

  get headState(): BeaconState {
    const state = this.states.get(this.headRoot);
    if (state === undefined) throw new Error(`head state ${this.headRoot} not in cache`);
    return state;
  }

  get finalizedCheckpoint(): Checkpoint {
    return this.forkChoice.store.finalizedCheckpoint;
  }

  get justifiedCheckpoint(): Checkpoint {
    return this.forkChoice.store.justifiedCheckpoint;
  }

  getBlock(root: string): electra.SignedBeaconBlock | undefined {
    return this.db.getBlock(hexToBytes(root as Hex));
  }

  /** The post-state of a known block (regenerated by replay if it left the cache). */
  async getState(root: string): Promise<BeaconState> {
    const cached = this.states.get(root);
    if (cached !== undefined) return cached;
    return this.regen(root);
  }

  /** The post-state of `root` if it is still in memory (never regenerates; for read-only APIs). */
  peekState(root: string): BeaconState | undefined {
    return this.states.peek(root);
  }

  /** The state of checkpoint `cp`: the block's post-state advanced to the epoch's first slot. */
  async getCheckpointState(cp: Checkpoint): Promise<BeaconState> {
    const key = cpKey(cp);
    const cached = this.checkpointStates.get(key);
    if (cached !== undefined) return cached;
    const stored = this.db.getStateBytes(cp.epoch, hexToBytes(cp.root as Hex));
    let state: BeaconState;
    if (stored !== undefined) {
      state = this.loadState(stored);
    } else {
      const blockState = await this.getState(cp.root);
      const slot = computeStartSlotAtEpoch(cp.epoch);
      state = (blockState.slot < slot ? processSlots(blockState.clone(), slot) : blockState) as BeaconState;
    }
    this.checkpointStates.set(key, state);
    return state;
  }

  loadState(bytes: Uint8Array): BeaconState {
    const view = ssz.electra.BeaconState.deserializeToViewDU(bytes);
    const seed = this.states.get(this.headRoot);
    if (seed === undefined) throw new Error("no seed state to share caches with");
    return createCachedFrom(seed, view);
  }

  /**
   * Effective-balance increments (by validator index, 0 for inactive or slashed) of the
   * justified state: the weights of votes. Increments rather than Gwei keep sums exact.
   */
  private async justifiedBalances(): Promise<ArrayLike<number>> {
    const cp = this.forkChoice.store.justifiedCheckpoint;
    const key = cpKey(cp);
    const cached = this.balancesCache.get(key);
    if (cached !== undefined) return cached;
    const state = await this.getCheckpointState(cp);
    const increments = getEffectiveBalanceIncrementsZeroInactive(state);
    this.balancesCache.set(key, increments);
    return increments;
  }

  // --- import ------------------------------------------------------------------------------

  /** Imports one block; serialized with other imports. Throws BlockError. */
  importBlock(signed: electra.SignedBeaconBlock, opts: ImportOptions = {}): Promise<string> {
    const run = () => this.importLocked(signed, opts);
    const result = this.lock.then(run, run);
    this.lock = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private async importLocked(signed: electra.SignedBeaconBlock, opts: ImportOptions): Promise<string> {
    const started = performance.now();
    const block = signed.message;
    const root = toHex(ssz.electra.BeaconBlock.hashTreeRoot(block));
    if (this.forkChoice.hasBlock(root))
      throw new BlockError(BlockErrorCode.ALREADY_KNOWN, `block ${root} already known`);
    const parentRoot = toHex(block.parentRoot);
    const finalizedSlot = computeStartSlotAtEpoch(this.forkChoice.store.finalizedCheckpoint.epoch);
    if (block.slot <= finalizedSlot) {
      throw new BlockError(
        BlockErrorCode.WOULD_REVERT_FINALIZED,
        `block ${root} at slot ${block.slot} is not after the finalized slot ${finalizedSlot}`,
      );
    }
    if (!this.forkChoice.hasBlock(parentRoot)) {
      throw new BlockError(
        BlockErrorCode.PARENT_UNKNOWN,
        `parent ${parentRoot} of block ${root} (slot ${block.slot}) is unknown`,
        {
          parentRoot,
          slot: block.slot,
        },
      );
    }
    if (block.slot > this.clock.currentSlot + 1) {
      throw new BlockError(
        BlockErrorCode.FUTURE_SLOT,
        `block ${root} at slot ${block.slot} is from the future (current slot ${this.clock.currentSlot})`,
      );
    }

    const preState = await this.getState(parentRoot);
    const stStarted = performance.now();
    let postState: BeaconState;
    try {
      // Signatures (the proposer's included) are checked below as one batch, not one by one
      // inside the transition; the proposer index itself is checked by processBlockHeader.
      postState = stateTransition(preState, signed, {
        verifyStateRoot: true,
        verifyProposer: false,
        verifySignatures: false,
        executionPayloadStatus: ExecutionPayloadStatus.valid,
        dataAvailabilityStatus: DataAvailabilityStatus.Available,
      }) as BeaconState;
    } catch (err) {
      throw new BlockError(
        BlockErrorCode.INVALID_STATE_TRANSITION,
        `block ${root} (slot ${block.slot}): ${(err as Error).message}`,
        {
          slot: block.slot,
        },
      );
    }
    const stateTransitionMs = performance.now() - stStarted;
    let signaturesMs = 0;
    if (opts.verifySignatures !== false) {
      const sigStarted = performance.now();
      let bad: string | undefined;
      try {
        const { sets, labels } = blockSignatureSets(this.config, postState, signed);
        bad = verifySignatureSets(postState, sets, labels);
      } catch (err) {
        bad = (err as Error).message;
      }
      if (bad !== undefined) {
        throw new BlockError(
          BlockErrorCode.INVALID_SIGNATURE,
          `block ${root} (slot ${block.slot}): invalid ${bad}`,
          {
            slot: block.slot,
          },
        );
      }
      signaturesMs = performance.now() - sigStarted;
    }

    const elStarted = performance.now();
    const payload = block.body.executionPayload;
    const status = await this.engine.newPayloadV4(
      payloadToJson(payload),
      [],
      toHex(block.parentRoot) as Hex,
      requestsToEngine(block.body.executionRequests),
    );
    const executionMs = performance.now() - elStarted;
    if (status.status === "INVALID" || status.status === "INVALID_BLOCK_HASH") {
      throw new BlockError(
        BlockErrorCode.INVALID_EXECUTION_PAYLOAD,
        `block ${root} (slot ${block.slot}): execution payload ${toHex(payload.blockHash)} is ${status.status}: ${status.validationError ?? ""}`,
      );
    }
    if (status.status !== "VALID") {
      throw new BlockError(
        BlockErrorCode.EXECUTION_SYNCING,
        `block ${root}: execution layer is ${status.status} for payload ${toHex(payload.blockHash)}`,
      );
    }

    const unrealized = unrealizedCheckpoints(postState, this.genesisRoot);
    const summary: BlockSummary = {
      slot: block.slot,
      blockRoot: root,
      parentRoot,
      stateRoot: toHex(block.stateRoot),
      executionBlockHash: toHex(payload.blockHash),
      executionBlockNumber: payload.blockNumber,
      justifiedCheckpoint: checkpointOf(postState.currentJustifiedCheckpoint, this.genesisRoot),
      finalizedCheckpoint: checkpointOf(postState.finalizedCheckpoint, this.genesisRoot),
      unrealizedJustifiedCheckpoint: unrealized.justified,
      unrealizedFinalizedCheckpoint: unrealized.finalized,
      targetRoot: targetRootOf(postState, block.slot, root),
    };
    const isTimely =
      opts.isTimely ??
      (block.slot === this.clock.currentSlot &&
        this.clock.msIntoSlot() < this.clock.slotMs * TIMELY_FRACTION);
    const justifiedBefore = this.forkChoice.store.justifiedCheckpoint;
    this.forkChoice.updateTime(this.clock.currentSlot);
    this.forkChoice.onBlock(summary, { isTimely });
    this.states.set(root, postState);
    if (!opts.replay) await this.db.putBlock(hexToBytes(root as Hex), signed);

    // Votes and slashings carried by the block.
    for (const attestation of block.body.attestations) {
      try {
        const indexed = postState.epochCtx.getIndexedAttestation(ForkSeq.electra, attestation);
        this.forkChoice.onAttestation(
          indexed.attestingIndices,
          {
            slot: attestation.data.slot,
            blockRoot: toHex(attestation.data.beaconBlockRoot),
            target: checkpointOf(attestation.data.target, this.genesisRoot),
          },
          { isFromBlock: true },
        );
      } catch {
        // Votes for blocks the fork choice no longer tracks are irrelevant to the head.
      }
    }
    for (const slashing of block.body.attesterSlashings) {
      const a = new Set(slashing.attestation1.attestingIndices);
      this.forkChoice.onAttesterSlashing(slashing.attestation2.attestingIndices.filter((i) => a.has(i)));
    }

    this.emit("block", { root, slot: block.slot, block: signed, postState });
    const justifiedAfter = this.forkChoice.store.justifiedCheckpoint;
    if (justifiedAfter.epoch > justifiedBefore.epoch) this.emit("justified", { checkpoint: justifiedAfter });
    await this.updateHeadLocked();
    this.metrics?.onBlockImported?.({
      stateTransitionMs,
      signaturesMs,
      executionMs,
      totalMs: performance.now() - started,
      attestations: block.body.attestations.length,
    });
    this.logger.info(
      {
        slot: block.slot,
        root,
        txs: payload.transactions.length,
        attestations: block.body.attestations.length,
        ms: Math.round(performance.now() - started),
      },
      opts.replay ? "Replayed block" : "Imported block",
    );
    return root;
  }

  /** Applies a validator's vote (from our validators or gossip) to the fork choice. */
  onAttestation(
    indices: readonly number[],
    data: { slot: number; beaconBlockRoot: Uint8Array; target: { epoch: number; root: Uint8Array } },
  ): void {
    this.forkChoice.onAttestation(
      indices,
      {
        slot: data.slot,
        blockRoot: toHex(data.beaconBlockRoot),
        target: checkpointOf(data.target, this.genesisRoot),
      },
      { isFromBlock: false },
    );
  }

  /** Recomputes the head (at slot starts and after imports) and updates the execution layer. */
  updateHead(): Promise<void> {
    const run = () => this.updateHeadLocked();
    const result = this.lock.then(run, run);
    this.lock = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private async updateHeadLocked(): Promise<void> {
    this.forkChoice.updateTime(this.clock.currentSlot);
    const head = this.forkChoice.updateHead(await this.justifiedBalances());
    const previous = this.headRoot;
    if (head.blockRoot !== previous) {
      const reorg = !this.forkChoice.isDescendant(previous, head.blockRoot);
      let depth = 0;
      if (reorg) {
        const common = this.commonAncestor(previous, head.blockRoot);
        depth = common === undefined ? 0 : (this.forkChoice.getBlock(previous)?.slot ?? 0) - common.slot;
        this.metrics?.onReorg?.(depth);
        this.logger.warn({ from: previous, to: head.blockRoot, depth }, "Chain reorg");
      }
      this.headRoot = head.blockRoot;
      this.emit("head", {
        root: head.blockRoot,
        slot: head.slot,
        previous,
        reorg,
        depth,
        state: await this.getState(head.blockRoot),
      });
    }
    await this.notifyExecution();
    const finalized = this.forkChoice.store.finalizedCheckpoint;
    if (finalized.epoch > this.lastFinalized.epoch) {
      await this.onFinalized(finalized);
      this.lastFinalized = finalized;
    }
    this.metrics?.onHead?.(head.slot, finalized.epoch, this.forkChoice.store.justifiedCheckpoint.epoch);
  }

  private commonAncestor(a: string, b: string): BlockSummary | undefined {
    const seen = new Set<string>();
    for (const block of this.forkChoice.iterateAncestors(a)) seen.add(block.blockRoot);
    for (const block of this.forkChoice.iterateAncestors(b)) if (seen.has(block.blockRoot)) return block;
    return this.forkChoice.getBlock(this.forkChoice.store.finalizedCheckpoint.root);
  }

  /** engine_forkchoiceUpdated(head, safe = justified block, finalized block). */
  async notifyExecution(): Promise<void> {
    const head = this.forkChoice.getBlock(this.headRoot);
    if (head === undefined) return;
    const safe = this.forkChoice.getBlock(this.forkChoice.store.justifiedCheckpoint.root);
    const finalized = this.forkChoice.getBlock(this.forkChoice.store.finalizedCheckpoint.root);
    const exec = (b: BlockSummary | undefined) =>
      b === undefined ? ZERO_HASH : (b.executionBlockHash as Hex);
    const response = await this.engine.forkchoiceUpdatedV3(
      { headBlockHash: exec(head), safeBlockHash: exec(safe), finalizedBlockHash: exec(finalized) },
      null,
    );
    if (response.payloadStatus.status !== "VALID") {
      this.logger.warn(
        { head: head.blockRoot, status: response.payloadStatus.status },
        "Execution layer did not accept the head",
      );
    }
  }

  private async onFinalized(cp: Checkpoint): Promise<void> {
    const state = await this.getCheckpointState(cp);
    const bytes = state.serialize();
    await this.db.putState(cp.epoch, hexToBytes(cp.root as Hex), bytes);
    await this.db.putMeta(BeaconMeta.anchor, { epoch: cp.epoch, root: cp.root });
    // The finalized chain becomes the canonical slot index; other branches below it are dropped.
    // Walks parent links rather than `iterateAncestors`, which stops at the store's finalized
    // block (already `cp` here): from `cp` back to the previous finalized block, the oldest the
    // fork choice still holds before this prune.
    const canonical: { slot: number; root: Uint8Array }[] = [];
    for (
      let block = this.forkChoice.getBlock(cp.root);
      block !== undefined;
      block = this.forkChoice.getBlock(block.parentRoot)
    )
      canonical.push({ slot: block.slot, root: hexToBytes(block.blockRoot as Hex) });
    await this.db.putCanonicalRoots(canonical);
    const canonicalRoots = new Set(canonical.map((c) => toHex(c.root)));
    const pruned = this.forkChoice.prune();
    const orphans = pruned
      .filter((b) => !canonicalRoots.has(b.blockRoot))
      .map((b) => hexToBytes(b.blockRoot as Hex));
    if (orphans.length > 0) await this.db.deleteBlocks(orphans);
    await this.db.pruneStates(cp.epoch);
    this.logger.info(
      { epoch: cp.epoch, root: cp.root, slot: computeStartSlotAtEpoch(cp.epoch) },
      "Finalized checkpoint",
    );
    this.emit("finalized", { checkpoint: cp, stateRoot: toHex(state.hashTreeRoot()) });
  }

  /** Replays stored blocks from the nearest cached ancestor state to `root`. */
  private async regen(root: string): Promise<BeaconState> {
    const path: electra.SignedBeaconBlock[] = [];
    let cursor = root;
    let base: BeaconState | undefined;
    for (;;) {
      base = this.states.get(cursor);
      if (base !== undefined) break;
      const block = this.getBlock(cursor);
      if (block === undefined) throw new Error(`cannot regenerate state of ${root}: block ${cursor} missing`);
      path.push(block);
      cursor = toHex(block.message.parentRoot);
    }
    let state = base;
    for (const block of path.reverse()) {
      state = stateTransition(state, block, {
        verifyStateRoot: false,
        verifyProposer: false,
        verifySignatures: false,
        executionPayloadStatus: ExecutionPayloadStatus.valid,
        dataAvailabilityStatus: DataAvailabilityStatus.Available,
      }) as BeaconState;
    }
    this.states.set(root, state);
    return state;
  }

  /** The head state advanced to `slot` (for block production and duties). */
  async stateAtSlot(slot: number): Promise<BeaconState> {
    const state = await this.getState(this.headRoot);
    if (state.slot >= slot) return state;
    return processSlots(state.clone(), slot) as BeaconState;
  }

  get slotsPerEpoch(): number {
    return SLOTS_PER_EPOCH;
  }
}

function cpKey(cp: Checkpoint): string {
  return `${cp.epoch}:${cp.root}`;
}

/** A cached state for a freshly deserialized view, sharing the seed state's pubkey cache and config. */
function createCachedFrom(
  seed: BeaconState,
  view: ReturnType<typeof ssz.electra.BeaconState.deserializeToViewDU>,
): BeaconState {
  return createCachedBeaconState(view, {
    config: seed.config,
    pubkeyCache: seed.epochCtx.pubkeyCache,
  }) as unknown as BeaconState;
}
