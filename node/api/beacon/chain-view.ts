/**
 * The beacon chain as the Beacon API sees it: block and state identifiers resolved to blocks and
 * states, with the `canonical` and `finalized` facts the responses carry.
 *
 *   block id  head | genesis | finalized | justified | <slot> | 0x<block root>
 *   state id  head | genesis | finalized | justified | <slot> | 0x<state root>
 *
 * Where things live: blocks since the finalized checkpoint are in the fork choice (canonical =
 * an ancestor of the head); older canonical blocks are in the beacon DB's slot index, written
 * on finalization (other branches are pruned then). The genesis block is not stored: it is
 * rebuilt from the genesis state root (an empty body, as the spec's genesis block is).
 *
 * States served: the head state, the genesis state and the finalized / justified checkpoint
 * states always; the post-state of any block the fork choice holds (regenerated from a cached
 * ancestor if needed); older states only while the chain still has them in memory. This node
 * keeps no historical state archive, so anything else is a 404 that says so.
 *
 * A malformed id is a 400, a well-formed id that names nothing is a 404 (Beacon API).
 * `execution_optimistic` is always false: every payload is validated by the execution layer
 * before its block is imported (there is no optimistic sync).
 */
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { ApiError } from "@lodestar/api/server";
import { computeStartSlotAtEpoch, processSlots, signedBlockToSignedHeader } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import type { BeaconChain, BeaconState } from "../../consensus/chain/chain.ts";
import { BeaconMeta } from "../../consensus/db/beacon-db.ts";
import type { BlockSummary, Checkpoint } from "../../consensus/fork-choice/interface.ts";

export type NamedId = "head" | "genesis" | "finalized" | "justified";

/** A parsed block or state identifier. */
export type ChainRef =
  | { kind: "named"; name: NamedId }
  | { kind: "slot"; slot: number }
  | { kind: "root"; root: string };

export interface ResolvedBlock {
  root: string;
  slot: number;
  block: electra.SignedBeaconBlock;
  canonical: boolean;
  finalized: boolean;
}

export interface ResolvedState {
  state: BeaconState;
  finalized: boolean;
}

/** The header list entry of `/eth/v1/beacon/headers` (Lodestar's BlockHeaderResponse value). */
export interface HeaderEntry {
  root: Uint8Array;
  canonical: boolean;
  header: ReturnType<typeof signedBlockToSignedHeader>;
}

const NAMED = new Set<string>(["head", "genesis", "finalized", "justified"]);
const ROOT_RE = /^0x[0-9a-fA-F]{64}$/;
const SLOT_RE = /^\d+$/;

/** Parses a block id or state id (400 when malformed). */
export function parseChainRef(id: string, what: "block" | "state"): ChainRef {
  if (NAMED.has(id)) return { kind: "named", name: id as NamedId };
  if (SLOT_RE.test(id)) {
    const slot = Number(id);
    if (!Number.isSafeInteger(slot))
      throw new ApiError(400, `Invalid ${what} id: slot ${id} is out of range`);
    return { kind: "slot", slot };
  }
  if (ROOT_RE.test(id)) return { kind: "root", root: id.toLowerCase() };
  throw new ApiError(
    400,
    `Invalid ${what} id '${id}': expected head, genesis, finalized, justified, a slot or a 0x-prefixed 32-byte ${what} root`,
  );
}

/** Parses a 0x-prefixed 32-byte root given as a query parameter (400 when malformed). */
export function parseRoot(value: string, name: string): string {
  if (!ROOT_RE.test(value))
    throw new ApiError(400, `Invalid ${name}: expected a 0x-prefixed 32-byte hex root`);
  return value.toLowerCase();
}

export class ChainView {
  readonly chain: BeaconChain;
  private readonly genesisStateRoot: string;
  /** The genesis block, rebuilt; undefined if it does not hash to the stored genesis root. */
  private readonly genesisBlock: electra.SignedBeaconBlock | undefined;

  constructor(chain: BeaconChain) {
    this.chain = chain;
    const stateRoot = chain.db.getMeta(BeaconMeta.genesisStateRoot);
    if (stateRoot === undefined) throw new Error("beacon database has no genesis state root");
    this.genesisStateRoot = bytesToHex(stateRoot);
    const genesis = ssz.electra.SignedBeaconBlock.defaultValue();
    genesis.message.stateRoot = stateRoot;
    const root = bytesToHex(ssz.electra.BeaconBlock.hashTreeRoot(genesis.message));
    this.genesisBlock = root === chain.genesisRoot ? genesis : undefined;
  }

  /** Last slot covered by the finalized checkpoint (its epoch's first slot). */
  get finalizedSlot(): number {
    return computeStartSlotAtEpoch(this.chain.finalizedCheckpoint.epoch);
  }

  // --- blocks ------------------------------------------------------------------------------------

  /** Root of the canonical block at exactly `slot` (undefined for an empty slot or after the head). */
  canonicalRootAt(slot: number): string | undefined {
    const head = this.chain.head;
    if (slot > head.slot) return undefined;
    if (slot === 0) return this.chain.genesisRoot;
    // Within the fork choice's window the head's ancestry answers (a block before `slot` means
    // the slot is empty); below it (pruned) the DB's canonical slot index does.
    const fc = this.chain.forkChoice;
    const ancestor = fc.getAncestor(head.blockRoot, slot);
    if (ancestor !== undefined) return fc.getBlock(ancestor)?.slot === slot ? ancestor : undefined;
    const stored = this.chain.db.getCanonicalRoot(slot);
    return stored === undefined ? undefined : bytesToHex(stored);
  }

  /** Root of the canonical block at or before `slot` (slot <= head slot). */
  canonicalRootAtOrBefore(slot: number): string {
    const ancestor = this.chain.forkChoice.getAncestor(this.chain.head.blockRoot, slot);
    if (ancestor !== undefined) return ancestor;
    for (let s = slot; s > 0; s--) {
      const stored = this.chain.db.getCanonicalRoot(s);
      if (stored !== undefined) return bytesToHex(stored);
    }
    return this.chain.genesisRoot;
  }

  isCanonical(root: string, slot: number): boolean {
    return this.canonicalRootAt(slot) === root;
  }

  /** A stored block (or the rebuilt genesis block) by root. */
  blockByRoot(root: string): electra.SignedBeaconBlock | undefined {
    if (root === this.chain.genesisRoot) return this.genesisBlock;
    return this.chain.getBlock(root);
  }

  /** Resolves a block id (400 malformed, 404 unknown). */
  resolveBlock(id: string): ResolvedBlock {
    const ref = parseChainRef(id, "block");
    let root: string;
    switch (ref.kind) {
      case "named":
        root = this.namedRoot(ref.name);
        break;
      case "slot": {
        const head = this.chain.head;
        if (ref.slot > head.slot)
          throw new ApiError(404, `No block at slot ${ref.slot}: the head is at slot ${head.slot}`);
        const found = this.canonicalRootAt(ref.slot);
        if (found === undefined) throw new ApiError(404, `No canonical block at slot ${ref.slot}`);
        root = found;
        break;
      }
      case "root":
        root = ref.root;
        break;
    }
    const block = this.blockByRoot(root);
    if (block === undefined) throw new ApiError(404, `Block ${root} not found`);
    return this.describe(root, block);
  }

  /** A block with its canonical / finalized flags. */
  describe(root: string, block: electra.SignedBeaconBlock): ResolvedBlock {
    const slot = block.message.slot;
    const canonical = this.isCanonical(root, slot);
    return { root, slot, block, canonical, finalized: canonical && slot <= this.finalizedSlot };
  }

  header(resolved: ResolvedBlock): HeaderEntry {
    return {
      root: hexToBytes(resolved.root as `0x${string}`),
      canonical: resolved.canonical,
      header: signedBlockToSignedHeader(this.chain.config, resolved.block),
    };
  }

  /**
   * Blocks for `/eth/v1/beacon/headers`: children of `parentRoot` and/or blocks at `slot`
   * (canonical first, then other branches the fork choice holds); the head without filters.
   */
  findBlocks(filter: { slot?: number; parentRoot?: string }): ResolvedBlock[] {
    const { slot, parentRoot } = filter;
    if (slot === undefined && parentRoot === undefined) {
      const head = this.chain.head.blockRoot;
      const block = this.blockByRoot(head);
      return block === undefined ? [] : [this.describe(head, block)];
    }
    const found = new Map<string, ResolvedBlock>();
    const add = (root: string | undefined) => {
      if (root === undefined || found.has(root)) return;
      const block = this.blockByRoot(root);
      if (block === undefined) return;
      if (slot !== undefined && block.message.slot !== slot) return;
      if (parentRoot !== undefined && bytesToHex(block.message.parentRoot) !== parentRoot) return;
      found.set(root, this.describe(root, block));
    };
    if (parentRoot !== undefined) {
      add(this.canonicalChildInHistory(parentRoot));
      for (const summary of this.forkChoiceBlocks())
        if (summary.parentRoot === parentRoot) add(summary.blockRoot);
    } else if (slot !== undefined) {
      add(this.canonicalRootAt(slot));
      for (const summary of this.forkChoiceBlocks()) if (summary.slot === slot) add(summary.blockRoot);
    }
    return [...found.values()].sort((a, b) => Number(b.canonical) - Number(a.canonical) || a.slot - b.slot);
  }

  /** Every block the fork choice holds (the finalized block and all its known descendants). */
  forkChoiceBlocks(): BlockSummary[] {
    const fc = this.chain.forkChoice;
    const seen = new Map<string, BlockSummary>();
    for (const tip of fc.getHeads()) {
      for (
        let block: BlockSummary | undefined = tip;
        block !== undefined && !seen.has(block.blockRoot);
        block = fc.getBlock(block.parentRoot)
      )
        seen.set(block.blockRoot, block);
    }
    return [...seen.values()];
  }

  /** The canonical child of a canonical block the fork choice no longer holds, if any. */
  private canonicalChildInHistory(parentRoot: string): string | undefined {
    if (this.chain.forkChoice.hasBlock(parentRoot)) return undefined;
    const parent = this.blockByRoot(parentRoot);
    if (parent === undefined) return undefined;
    const parentSlot = parent.message.slot;
    if (!this.isCanonical(parentRoot, parentSlot)) return undefined;
    const headSlot = this.chain.head.slot;
    for (let s = parentSlot + 1; s <= headSlot; s++) {
      const root = this.canonicalRootAt(s);
      if (root !== undefined) return root;
    }
    return undefined;
  }

  private namedRoot(name: NamedId): string {
    switch (name) {
      case "head":
        return this.chain.head.blockRoot;
      case "genesis":
        return this.chain.genesisRoot;
      case "finalized":
        return this.chain.finalizedCheckpoint.root;
      case "justified":
        return this.chain.justifiedCheckpoint.root;
    }
  }

  // --- states ------------------------------------------------------------------------------------

  /** Resolves a state id (400 malformed, 404 unknown or not kept). */
  async resolveState(id: string): Promise<ResolvedState> {
    const ref = parseChainRef(id, "state");
    switch (ref.kind) {
      case "named":
        return this.namedState(ref.name);
      case "slot":
        return this.stateAtSlot(ref.slot);
      case "root":
        return this.stateByRoot(ref.root);
    }
  }

  private async namedState(name: NamedId): Promise<ResolvedState> {
    switch (name) {
      case "head": {
        const head = this.chain.head;
        return { state: await this.blockState(head.blockRoot), finalized: head.slot <= this.finalizedSlot };
      }
      case "genesis":
        return { state: await this.genesisState(), finalized: true };
      case "finalized":
        return { state: await this.checkpointState(this.chain.finalizedCheckpoint), finalized: true };
      case "justified": {
        const cp = this.chain.justifiedCheckpoint;
        return {
          state: await this.checkpointState(cp),
          finalized: cp.epoch <= this.chain.finalizedCheckpoint.epoch,
        };
      }
    }
  }

  /** The canonical state at `slot`: its last block's post-state, advanced through empty slots. */
  private async stateAtSlot(slot: number): Promise<ResolvedState> {
    const head = this.chain.head;
    if (slot > head.slot)
      throw new ApiError(404, `No state at slot ${slot}: the head is at slot ${head.slot}`);
    const root = this.canonicalRootAtOrBefore(slot);
    const state = await this.blockState(root);
    const atSlot = state.slot < slot ? (processSlots(state.clone(), slot) as BeaconState) : state;
    return { state: atSlot, finalized: slot <= this.finalizedSlot };
  }

  private async stateByRoot(stateRoot: string): Promise<ResolvedState> {
    if (stateRoot === this.genesisStateRoot) return { state: await this.genesisState(), finalized: true };
    for (const cp of [this.chain.finalizedCheckpoint, this.chain.justifiedCheckpoint]) {
      const state = await this.checkpointState(cp).catch(() => undefined);
      if (state !== undefined && bytesToHex(state.hashTreeRoot()) === stateRoot) {
        return { state, finalized: cp.epoch <= this.chain.finalizedCheckpoint.epoch };
      }
    }
    for (const summary of this.forkChoiceBlocks()) {
      if (summary.stateRoot !== stateRoot) continue;
      const canonical = this.isCanonical(summary.blockRoot, summary.slot);
      return {
        state: await this.blockState(summary.blockRoot),
        finalized: canonical && summary.slot <= this.finalizedSlot,
      };
    }
    throw new ApiError(404, `State ${stateRoot} not found`);
  }

  /** Post-state of a block (404 when it is no longer kept). */
  private async blockState(root: string): Promise<BeaconState> {
    if (root === this.chain.genesisRoot) return this.genesisState();
    if (this.chain.forkChoice.hasBlock(root)) {
      try {
        return await this.chain.getState(root);
      } catch (err) {
        throw new ApiError(404, `State of block ${root} is not available: ${(err as Error).message}`);
      }
    }
    const cached = this.chain.peekState(root);
    if (cached !== undefined) return cached;
    throw new ApiError(
      404,
      `State of block ${root} is not kept: this node keeps no historical states before the finalized checkpoint`,
    );
  }

  private genesisState(): Promise<BeaconState> {
    return this.checkpointState({ epoch: 0, root: this.chain.genesisRoot });
  }

  private async checkpointState(cp: Checkpoint): Promise<BeaconState> {
    try {
      return await this.chain.getCheckpointState(cp);
    } catch (err) {
      throw new ApiError(
        404,
        `State of checkpoint ${cp.epoch}/${cp.root} is not available: ${(err as Error).message}`,
      );
    }
  }
}
