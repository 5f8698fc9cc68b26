/**
 * Chain sync over req/resp: the Status handshake with every peer, range sync when a peer's head
 * is ahead of ours (after joining late, downtime or a partition), and lookups of unknown parents
 * that gossip runs into.
 *
 *   peer connects ─► status both ways ─► other fork digest, or a finalized checkpoint that
 *     conflicts with ours: goodbye + short ban
 *   every tick: best peer head > our head ─► blocks by range in batches from our head
 *     (or, when the peer is on another branch, from our finalized slot) ─► chain.importBlock
 *   gossip: block with an unknown parent ─► blocks by root, parent by parent, up to a depth;
 *     deeper gaps go to range sync
 *
 * While the head is more than a few slots behind the best peer, `isSyncing` is true (Beacon API,
 * eth_syncing) and a progress line with speed and ETA is logged every 5 s. Invalid blocks from a
 * peer get it banned for a while.
 */
import type { PeerId } from "@libp2p/interface";
import { computeStartSlotAtEpoch } from "@lodestar/state-transition";
import { type electra, type phase0, ssz } from "@lodestar/types";
import { BlockError, BlockErrorCode } from "../../consensus/chain/errors.ts";
import type { ConsensusLayer } from "../../consensus/index.ts";
import { errorMessage } from "../../utils/errors.ts";
import type { Logger } from "../../utils/logger.ts";
import type { P2PHost } from "../host.ts";
import type { ReqResp } from "../reqresp/reqresp.ts";

export interface SyncOptions {
  /** Slots per blocks-by-range request. */
  batchSlots: number;
  /** How often peers' status is refreshed and sync considered (ms). */
  tickMs: number;
  /** How far behind the best peer counts as syncing (slots). */
  syncingDistance: number;
  /** Deepest unknown-parent chain fetched by root before handing over to range sync. */
  maxLookupDepth: number;
  /** How long a peer that served invalid blocks or belongs to another network is refused (ms). */
  banMs: number;
}

export const DEFAULT_SYNC_OPTIONS: SyncOptions = {
  batchSlots: 32,
  tickMs: 2_000,
  syncingDistance: 2,
  maxLookupDepth: 32,
  banMs: 10 * 60_000,
};

/** Goodbye reasons (phase0 p2p spec). */
const GOODBYE_IRRELEVANT_NETWORK = 2n;
const GOODBYE_FAULT = 3n;
const PROGRESS_EVERY_MS = 5_000;

export interface SyncModules {
  host: P2PHost;
  reqresp: ReqResp;
  cl: ConsensusLayer;
  logger: Logger;
}

interface PeerStatus {
  status: phase0.Status;
  at: number;
}

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;

export class SyncService {
  private readonly opts: SyncOptions;
  private readonly m: SyncModules;
  private readonly peers = new Map<string, PeerStatus>();
  private readonly lookups = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private stopped = false;
  /** Highest head slot a peer reported (the sync target). */
  private target = 0;
  private progress = { at: 0, slot: 0 };
  private readonly onConnect = (e: CustomEvent<PeerId>) => void this.handshake(e.detail.toString());
  private readonly onDisconnect = (e: CustomEvent<PeerId>) => this.peers.delete(e.detail.toString());

  constructor(modules: SyncModules, opts: Partial<SyncOptions> = {}) {
    this.m = modules;
    this.opts = { ...DEFAULT_SYNC_OPTIONS, ...opts };
  }

  start(): void {
    const { host, reqresp } = this.m;
    host.libp2p.addEventListener("peer:connect", this.onConnect);
    host.libp2p.addEventListener("peer:disconnect", this.onDisconnect);
    reqresp.on("status", ({ peer, status }) => this.onStatus(peer, status));
    for (const peer of host.peers) void this.handshake(peer);
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.m.host.libp2p.removeEventListener("peer:connect", this.onConnect);
    this.m.host.libp2p.removeEventListener("peer:disconnect", this.onDisconnect);
    await this.syncing;
  }

  /** Whether the head is more than `syncingDistance` slots behind the best peer. */
  get isSyncing(): boolean {
    return this.target - this.m.cl.chain.head.slot > this.opts.syncingDistance;
  }

  /** For eth_syncing: head and target slots (the EL block numbers follow the beacon slots). */
  get status(): { head: number; target: number } {
    return { head: this.m.cl.chain.head.slot, target: this.target };
  }

  private async handshake(peer: string): Promise<void> {
    try {
      const status = await this.m.reqresp.status(peer);
      this.onStatus(peer, status);
    } catch (err) {
      this.m.logger.debug({ peer, err: errorMessage(err) }, "Status handshake failed");
    }
  }

  /** A peer's status (from our request or its own): keep it, or part with a peer of another chain. */
  private onStatus(peer: string, status: phase0.Status): void {
    const problem = this.irrelevance(status);
    if (problem !== undefined) {
      this.m.logger.info({ peer, reason: problem }, "Disconnecting a peer of another chain");
      this.peers.delete(peer);
      void this.m.reqresp
        .goodbye(peer, GOODBYE_IRRELEVANT_NETWORK)
        .catch(() => {})
        .finally(() => void this.m.host.ban(peer, this.opts.banMs, problem));
      return;
    }
    this.peers.set(peer, { status, at: Date.now() });
    if (status.headSlot > this.target) this.target = status.headSlot;
  }

  /** Why a peer's status shows it is not on our network or chain; undefined when it is. */
  private irrelevance(status: phase0.Status): string | undefined {
    const chain = this.m.cl.chain;
    const ours = this.m.cl.config.forkBoundary2ForkDigest(
      this.m.cl.config.getForkBoundaryAtEpoch(chain.clock.currentEpoch),
    );
    if (hex(status.forkDigest) !== hex(ours))
      return `fork digest ${hex(status.forkDigest)}, ours ${hex(ours)}`;
    // A finalized checkpoint at or before ours must be on our chain.
    const finalized = chain.finalizedCheckpoint;
    if (status.finalizedEpoch > 0 && status.finalizedEpoch <= finalized.epoch) {
      const root = hex(status.finalizedRoot);
      if (status.finalizedEpoch === finalized.epoch && root !== finalized.root)
        return `finalized ${root} at epoch ${status.finalizedEpoch} conflicts with ours`;
    }
    return undefined;
  }

  private tick(): void {
    if (this.stopped) return;
    // Refresh statuses that are older than a few ticks (a peer's head moves every slot).
    const stale = Date.now() - 3 * this.opts.tickMs;
    for (const [peer, s] of this.peers) if (s.at < stale) void this.handshake(peer);
    this.target = Math.max(0, ...[...this.peers.values()].map((p) => p.status.headSlot));
    if (this.syncing === undefined && this.bestPeer() !== undefined) {
      this.syncing = this.rangeSync()
        .catch((err: unknown) => this.m.logger.warn({ err: errorMessage(err) }, "Range sync failed"))
        .finally(() => {
          this.syncing = undefined;
        });
    }
    this.timer = setTimeout(() => this.tick(), this.opts.tickMs);
    this.timer.unref?.();
  }

  /** Whether a peer's head block is one we do not have (it is on another branch, or ahead). */
  private unknownHead(status: phase0.Status): boolean {
    return this.m.cl.chain.getBlock(hex(status.headRoot)) === undefined;
  }

  /**
   * The peer to sync from: the highest head among those ahead of us; else, the highest head we
   * do not know (a branch built while the network was split, which gossip's parent lookups
   * cannot reach when it is deeper than their limit: after a partition heals, both halves' heads
   * are at about the same slot, so "ahead" alone would never sync them).
   */
  private bestPeer(): { peer: string; status: phase0.Status; behind: boolean } | undefined {
    const ours = this.m.cl.chain.head.slot;
    let ahead: { peer: string; status: phase0.Status } | undefined;
    let other: { peer: string; status: phase0.Status } | undefined;
    for (const [peer, s] of this.peers) {
      if (s.status.headSlot > ours) {
        if (ahead === undefined || s.status.headSlot > ahead.status.headSlot)
          ahead = { peer, status: s.status };
      } else if (s.status.headSlot > 0 && this.unknownHead(s.status)) {
        if (other === undefined || s.status.headSlot > other.status.headSlot)
          other = { peer, status: s.status };
      }
    }
    if (ahead !== undefined) return { ...ahead, behind: false };
    return other === undefined ? undefined : { ...other, behind: true };
  }

  /** Downloads and imports blocks from the best peer until our head reaches its head. */
  private async rangeSync(): Promise<void> {
    const chain = this.m.cl.chain;
    // Set while following another branch from our finalized checkpoint: the next slot to ask
    // for (blocks we already have are skipped on import). Undefined: continue from our head.
    let cursor: number | undefined;
    this.progress = { at: Date.now(), slot: chain.head.slot };
    while (!this.stopped) {
      const best = this.bestPeer();
      if (best === undefined) return;
      const { peer, status } = best;
      const finalizedStart = computeStartSlotAtEpoch(chain.finalizedCheckpoint.epoch);
      // A head we do not know at or below our slot is on another branch.
      if (best.behind && cursor === undefined) cursor = finalizedStart + 1;
      const start = cursor ?? chain.head.slot + 1;
      const count = Math.min(this.opts.batchSlots, status.headSlot - start + 1);
      if (count <= 0) return;
      const blocks = await this.m.reqresp.blocksByRange(peer, start, count).catch((err: unknown) => {
        this.m.logger.debug({ peer, start, count, err: errorMessage(err) }, "Blocks by range failed");
        this.peers.delete(peer);
        return undefined;
      });
      if (blocks === undefined) {
        cursor = undefined;
        continue;
      }
      if (blocks.length === 0) {
        // Empty range: the peer's blocks are further on; move past it next round (a peer that
        // claims a head it cannot serve is dropped after its status is refreshed).
        if (start + count > status.headSlot) {
          this.peers.delete(peer);
          cursor = undefined;
          continue;
        }
        if (cursor !== undefined) cursor = start + count;
        continue;
      }
      const outcome = await this.importAll(peer, blocks);
      if (outcome === "parent-unknown") {
        if (cursor !== undefined) {
          await this.fault(peer, "served blocks that do not connect to our finalized chain");
          cursor = undefined;
          continue;
        }
        // The peer is on another branch: follow it from our finalized checkpoint.
        cursor = finalizedStart + 1;
        continue;
      }
      if (outcome === "invalid") {
        cursor = undefined;
        continue;
      }
      if (cursor !== undefined) cursor = start + count;
      this.logProgress();
    }
  }

  /** Imports blocks in order; already-known ones are skipped. */
  private async importAll(
    peer: string,
    blocks: electra.SignedBeaconBlock[],
  ): Promise<"ok" | "parent-unknown" | "invalid"> {
    for (const block of blocks) {
      try {
        await this.m.cl.chain.importBlock(block);
      } catch (err) {
        if (err instanceof BlockError) {
          if (err.code === BlockErrorCode.ALREADY_KNOWN || err.code === BlockErrorCode.WOULD_REVERT_FINALIZED)
            continue;
          if (err.code === BlockErrorCode.PARENT_UNKNOWN) return "parent-unknown";
          if (err.code === BlockErrorCode.FUTURE_SLOT || err.code === BlockErrorCode.EXECUTION_SYNCING)
            return "ok";
          await this.fault(peer, err.message);
          return "invalid";
        }
        throw err;
      }
    }
    return "ok";
  }

  private async fault(peer: string, reason: string): Promise<void> {
    this.peers.delete(peer);
    this.m.logger.warn({ peer, reason }, "Peer served invalid blocks");
    await this.m.reqresp.goodbye(peer, GOODBYE_FAULT).catch(() => {});
    await this.m.host.ban(peer, this.opts.banMs, reason);
  }

  private logProgress(): void {
    const now = Date.now();
    if (now - this.progress.at < PROGRESS_EVERY_MS) return;
    const head = this.m.cl.chain.head.slot;
    const rate = ((head - this.progress.slot) * 1000) / (now - this.progress.at);
    const remaining = Math.max(0, this.target - head);
    this.m.logger.info(
      {
        head,
        target: this.target,
        slotsPerSecond: Math.round(rate * 10) / 10,
        etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
      },
      "Syncing",
    );
    this.progress = { at: now, slot: head };
  }

  /**
   * Gossip brought a block whose parent we lack: fetch the missing ancestors by root from the
   * peer (up to `maxLookupDepth`), import them oldest first, then the block itself.
   */
  async onUnknownParent(block: electra.SignedBeaconBlock, peer: string): Promise<void> {
    const root = hex(ssz.electra.BeaconBlock.hashTreeRoot(block.message));
    if (this.lookups.has(root)) return;
    this.lookups.add(root);
    try {
      const chain: electra.SignedBeaconBlock[] = [block];
      let parent = block.message.parentRoot;
      for (let depth = 0; depth < this.opts.maxLookupDepth; depth++) {
        if (this.m.cl.chain.forkChoice.hasBlock(hex(parent))) break;
        const [found] = await this.m.reqresp.blocksByRoot(peer, [parent]);
        if (found === undefined) return;
        chain.unshift(found);
        parent = found.message.parentRoot;
      }
      if (!this.m.cl.chain.forkChoice.hasBlock(hex(parent))) {
        // Too deep for lookups: range sync catches up (the peer's status will show its head).
        void this.handshake(peer);
        return;
      }
      await this.importAll(peer, chain);
    } catch (err) {
      this.m.logger.debug({ peer, root, err: errorMessage(err) }, "Parent lookup failed");
    } finally {
      this.lookups.delete(root);
    }
  }
}
