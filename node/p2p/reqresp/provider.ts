/**
 * What the req/resp responder serves, behind a narrow interface: the node's status, metadata,
 * fork digests and canonical blocks. `consensusReqRespProvider` implements it over the consensus
 * layer; tests can implement it over anything.
 */
import { SLOTS_PER_EPOCH } from "@lodestar/params";
import { type altair, type electra, type phase0, ssz } from "@lodestar/types";
import type { ConsensusLayer } from "../../consensus/index.ts";

/** A block as served: its slot (for the fork-digest context) and its SSZ bytes (electra.SignedBeaconBlock). */
export interface ServedBlock {
  slot: number;
  bytes: Uint8Array;
}

export interface ReqRespProvider {
  /** Fork digest of the fork active at `epoch` (context bytes of block chunks; checked on received blocks). */
  forkDigest(epoch: number): Uint8Array;
  /** This node's Status (fork digest of the wall-clock epoch, finalized checkpoint, head). */
  status(): phase0.Status | Promise<phase0.Status>;
  /** This node's MetaData (sequence number, attestation and sync subnets). */
  metadata(): altair.Metadata;
  /**
   * Canonical blocks (on the chain of the current head) with slots in `[startSlot, startSlot +
   * count)`, ascending; empty slots are absent. `count` is at most MAX_REQUEST_BLOCKS_DENEB.
   */
  blocksByRange(startSlot: number, count: number): ServedBlock[] | Promise<ServedBlock[]>;
  /** The known blocks among `roots` (block roots), in request order; unknown roots are skipped. */
  blocksByRoot(roots: Uint8Array[]): ServedBlock[] | Promise<ServedBlock[]>;
}

export function epochAtSlot(slot: number): number {
  return Math.floor(slot / SLOTS_PER_EPOCH);
}

export function servedBlock(block: electra.SignedBeaconBlock): ServedBlock {
  return { slot: block.message.slot, bytes: ssz.electra.SignedBeaconBlock.serialize(block) };
}

/**
 * The slot of an SSZ SignedBeaconBlock without decoding it: the message (a variable-size field)
 * starts at the offset in the first 4 bytes, and its first 8 bytes are the slot.
 */
export function slotOfBlockBytes(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offset = view.getUint32(0, true);
  return Number(view.getBigUint64(offset, true));
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/^0x/, ""), "hex"));
}

function toHex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

export interface ConsensusProviderOptions {
  /**
   * This node's MetaData (the gossip layer owns the subnet bitfields and bumps the sequence
   * number when they change). Default: sequence 0, no subnets.
   */
  metadata?: () => altair.Metadata;
}

/**
 * The provider over our consensus layer. Blocks come from the beacon DB by root; the canonical
 * chain is the fork choice head's ancestry down to the oldest block the fork choice still holds
 * (the finalized block), and below it the DB's canonical slot index of finalized history
 * (written before the fork choice prunes, so the two always meet). Everything is synchronous, so
 * a response is one consistent view even while blocks import.
 *
 * The genesis block has no stored SignedBeaconBlock, so slot 0 is never served.
 */
export function consensusReqRespProvider(
  cl: ConsensusLayer,
  opts: ConsensusProviderOptions = {},
): ReqRespProvider {
  const forkDigest = (epoch: number) =>
    cl.config.forkBoundary2ForkDigest(cl.config.getForkBoundaryAtEpoch(epoch));
  const defaultMetadata: altair.Metadata = {
    seqNumber: 0n,
    attnets: ssz.altair.Metadata.fields.attnets.defaultValue(),
    syncnets: ssz.altair.Metadata.fields.syncnets.defaultValue(),
  };
  return {
    forkDigest,
    status() {
      const head = cl.chain.head;
      const finalized = cl.chain.finalizedCheckpoint;
      return {
        forkDigest: forkDigest(Math.max(0, cl.clock.currentEpoch)),
        // The spec's genesis finalized checkpoint carries the zero root.
        finalizedRoot: finalized.epoch === 0 ? new Uint8Array(32) : fromHex(finalized.root),
        finalizedEpoch: finalized.epoch,
        headRoot: fromHex(head.blockRoot),
        headSlot: head.slot,
      };
    },
    metadata: opts.metadata ?? (() => defaultMetadata),
    blocksByRange(startSlot, count) {
      const endSlot = startSlot + count - 1;
      if (count <= 0 || !Number.isSafeInteger(endSlot)) return [];
      const fc = cl.chain.forkChoice;
      const recent: ServedBlock[] = [];
      // Walk the head's ancestry through the fork choice down to the range's start.
      let oldest = Number.POSITIVE_INFINITY;
      for (let b = fc.getBlock(cl.chain.head.blockRoot); b !== undefined; b = fc.getBlock(b.parentRoot)) {
        oldest = b.slot;
        if (b.slot < startSlot) break;
        if (b.slot > endSlot) continue;
        const bytes = cl.db.getBlockBytes(fromHex(b.blockRoot));
        if (bytes !== undefined) recent.push({ slot: b.slot, bytes });
      }
      recent.reverse();
      // Slots below the oldest fork-choice block: finalized history in the canonical index.
      const finalized: ServedBlock[] = [];
      const last = Math.min(endSlot, oldest - 1);
      for (let slot = startSlot; slot <= last; slot++) {
        const root = cl.db.getCanonicalRoot(slot);
        const bytes = root === undefined ? undefined : cl.db.getBlockBytes(root);
        if (bytes !== undefined) finalized.push({ slot, bytes });
      }
      return [...finalized, ...recent];
    },
    blocksByRoot(roots) {
      const out: ServedBlock[] = [];
      for (const root of roots) {
        const bytes = cl.db.getBlockBytes(root);
        if (bytes === undefined) continue;
        out.push({ slot: cl.chain.forkChoice.getBlock(toHex(root))?.slot ?? slotOfBlockBytes(bytes), bytes });
      }
      return out;
    },
  };
}
