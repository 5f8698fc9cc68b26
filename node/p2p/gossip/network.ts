/**
 * The node's gossip network: one registry on the P2P host's gossipsub with the consensus topics,
 * the transactions topic and whatever other layers register, wired to the consensus and
 * execution layers.
 *
 *   const host = await P2PHost.start(p2pOpts, { logger, gossip: gossipsubOptionsFor(cl) });
 *   const gossip = new GossipNetwork({ host, consensus: cl, execution: el, logger, metrics });
 *   gossip.start();          // subscribes; our validators publish through it from now on
 *   gossip.on("unknownParent", ({ blockRoot, parentRoot, peer }) => sync.fetch(...));
 *   ...
 *   await gossip.stop(); await host.stop();
 *
 * While running it also bans (for an hour) peers whose gossip score falls below the graylist
 * threshold, and keeps the peer gauges current.
 */
import { SLOTS_PER_EPOCH } from "@lodestar/params";
import type { ConsensusLayer } from "../../consensus/index.ts";
import type { AcceptedOperation } from "../../consensus/op-pools/submit.ts";
import type { TxPool } from "../../execution/txpool/pool.ts";
import { type GossipMetrics, gossipMetrics } from "../../metrics/gossip.ts";
import type { Metrics } from "../../metrics/index.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import type { P2PHost } from "../host.ts";
import { ConsensusGossip, type UnknownParentEvent } from "./consensus.ts";
import { GossipRegistry, type GossipRouter, gossipRouter } from "./registry.ts";
import { GOSSIP_SCORE_THRESHOLDS, type GossipTiming, gossipsubOptions } from "./scoring.ts";
import { forkDigestHex } from "./topics.ts";
import { publishLocalTransactions, registerTransactionTopic } from "./transactions.ts";

/** How long a peer whose score fell below the graylist threshold stays banned. */
const SCORE_BAN_MS = 60 * 60 * 1000;

export interface GossipNetworkModules {
  host: P2PHost;
  consensus: ConsensusLayer;
  execution: { pool: TxPool };
  logger: Logger;
  metrics?: Metrics;
}

export interface GossipNetworkEvents {
  /** A gossip block whose parent we do not have (for the sync layer). */
  unknownParent: (e: UnknownParentEvent) => void;
}

/** The network timing of a consensus layer. */
export function gossipTimingOf(cl: ConsensusLayer): GossipTiming {
  return { slotMs: cl.clock.slotMs, slotsPerEpoch: SLOTS_PER_EPOCH };
}

/** The `gossip` option of `P2PHost.start` for a node running `cl`. */
export function gossipsubOptionsFor(cl: ConsensusLayer): ReturnType<typeof gossipsubOptions> {
  return gossipsubOptions(gossipTimingOf(cl));
}

export class GossipNetwork extends TypedEmitter<GossipNetworkEvents> {
  readonly registry: GossipRegistry;
  readonly router: GossipRouter;
  readonly consensus: ConsensusGossip;
  private readonly host: P2PHost;
  private readonly cl: ConsensusLayer;
  private readonly pool: TxPool;
  private readonly logger: Logger;
  private readonly metrics: GossipMetrics | undefined;
  private readonly cleanups: (() => void)[] = [];
  private running = false;

  constructor(modules: GossipNetworkModules) {
    super();
    this.host = modules.host;
    this.cl = modules.consensus;
    this.pool = modules.execution.pool;
    this.logger = modules.logger.child({ module: "gossip" });
    this.metrics = modules.metrics === undefined ? undefined : gossipMetrics(modules.metrics);
    this.router = gossipRouter(modules.host.libp2p.services.pubsub);
    const cl = this.cl;
    this.registry = new GossipRegistry({
      router: this.router,
      forkDigest: forkDigestHex(cl.config, cl.clock.currentEpoch),
      timing: gossipTimingOf(cl),
      currentSlot: () => cl.clock.currentSlot,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.consensus = new ConsensusGossip(this.registry, cl, this.logger);
    this.consensus.register();
    registerTransactionTopic(this.registry, this.pool);
    this.consensus.on("unknownParent", (e) => this.emit("unknownParent", e));
  }

  /** Subscribes to every registered topic and starts publishing for the validators, the pool and the op pool. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.registry.start();
    this.cl.validator.setPublish(this.consensus.publisher);
    this.cleanups.push(() => this.cl.validator.setPublish(undefined));
    this.cleanups.push(
      this.cl.submit.on("accepted", (op: AcceptedOperation) => this.consensus.onOperationAccepted(op)),
    );
    this.cleanups.push(publishLocalTransactions(this.registry, this.pool, this.logger));
    const onHeartbeat = () => this.onHeartbeat();
    this.router.addEventListener("gossipsub:heartbeat", onHeartbeat);
    this.cleanups.push(() => this.router.removeEventListener("gossipsub:heartbeat", onHeartbeat));
    this.logger.info(
      { forkDigest: this.registry.forkDigest, topics: this.registry.names.length },
      "Gossip started",
    );
  }

  /** Stops publishing and receiving; resolves once messages under validation are done. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
    await this.registry.stop();
    this.logger.info("Gossip stopped");
  }

  /** A peer's gossipsub score (0 for peers it has no record of). */
  peerScore(peerId: string): number {
    return this.router.getScore(peerId);
  }

  private onHeartbeat(): void {
    const peers = this.router.getPeers().map((p) => p.toString());
    const mesh = new Set<string>();
    for (const topic of this.router.getTopics()) for (const p of this.router.getMeshPeers(topic)) mesh.add(p);
    this.metrics?.setPeers(peers.length, mesh.size);
    for (const peer of peers) {
      const score = this.router.getScore(peer);
      if (score < GOSSIP_SCORE_THRESHOLDS.graylistThreshold && !this.host.isBanned(peer))
        void this.host.ban(peer, SCORE_BAN_MS, `gossip score ${Math.round(score)}`);
    }
  }
}
