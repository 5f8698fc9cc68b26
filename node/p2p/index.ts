/**
 * The node's network: one libp2p host (`host.ts`) carrying gossip (`gossip/`: blocks,
 * attestations, aggregates, sync messages, operations, EL transactions, and topics later layers
 * register), req/resp (`reqresp/`: status, blocks by range and root, blobs) and sync
 * (`sync/`: handshakes, range sync, parent lookups). `Network.start` builds them in order for a
 * consensus layer and an execution layer; `stop` tears them down in reverse.
 */
import { join } from "node:path";
import { BitArray } from "@chainsafe/ssz";
import type { altair } from "@lodestar/types";
import type { NetworkInfo } from "../api/beacon/methods/node.ts";
import type { ConsensusLayer } from "../consensus/index.ts";
import type { TxPool } from "../execution/txpool/pool.ts";
import type { Metrics } from "../metrics/index.ts";
import { reqRespMetrics } from "../metrics/reqresp.ts";
import type { Logger } from "../utils/logger.ts";
import { GossipNetwork, gossipsubOptionsFor } from "./gossip/index.ts";
import { P2PHost, type P2POptions } from "./host.ts";
import { type BlobStore, consensusReqRespProvider, FileBlobStore, ReqResp } from "./reqresp/index.ts";
import { SyncService } from "./sync/sync.ts";

export interface NetworkModules {
  consensus: ConsensusLayer;
  execution: { pool: TxPool };
  /** The node's root logger (each part names its module). */
  logger: Logger;
  metrics?: Metrics;
  /**
   * The blob store served over req/resp: the compute layer's (so records it appends to its
   * segments are served at once); a FileBlobStore under `<datadir>/blobs` when absent.
   */
  blobs?: BlobStore;
}

/** The node subscribes to every attestation and sync subnet (small networks): its MetaData says so. */
function allSubnetsMetadata(): altair.Metadata {
  const attnets = BitArray.fromBitLen(64);
  for (let i = 0; i < 64; i++) attnets.set(i, true);
  const syncnets = BitArray.fromBitLen(4);
  for (let i = 0; i < 4; i++) syncnets.set(i, true);
  return { seqNumber: 1n, attnets, syncnets };
}

export class Network {
  readonly host: P2PHost;
  readonly reqresp: ReqResp;
  readonly gossip: GossipNetwork;
  readonly sync: SyncService;

  private constructor(host: P2PHost, reqresp: ReqResp, gossip: GossipNetwork, sync: SyncService) {
    this.host = host;
    this.reqresp = reqresp;
    this.gossip = gossip;
    this.sync = sync;
  }

  static async start(opts: P2POptions, modules: NetworkModules): Promise<Network> {
    const { consensus: cl, logger } = modules;
    const host = await P2PHost.start(opts, {
      logger: logger.child({ module: "p2p" }),
      gossip: gossipsubOptionsFor(cl),
    });
    try {
      const metadata = allSubnetsMetadata();
      const reqresp = new ReqResp({
        host,
        provider: consensusReqRespProvider(cl, { metadata: () => metadata }),
        blobs: modules.blobs ?? new FileBlobStore(join(opts.datadir, "blobs")),
        logger: logger.child({ module: "reqresp" }),
        metrics: modules.metrics === undefined ? undefined : reqRespMetrics(modules.metrics),
      });
      await reqresp.start();
      const gossip = new GossipNetwork({
        host,
        consensus: cl,
        execution: modules.execution,
        logger,
        metrics: modules.metrics,
      });
      const sync = new SyncService({ host, reqresp, cl, logger: logger.child({ module: "sync" }) });
      gossip.on("unknownParent", (e) => void sync.onUnknownParent(e.block, e.peer));
      gossip.start();
      sync.start();
      return new Network(host, reqresp, gossip, sync);
    } catch (err) {
      await host.stop();
      throw err;
    }
  }

  /** What the Beacon API shows about the network. */
  info(): NetworkInfo {
    const host = this.host;
    return {
      peerId: host.peerId,
      addresses: () => host.multiaddrs,
      peers: () =>
        host.libp2p.getConnections().map((c) => ({
          peerId: c.remotePeer.toString(),
          address: c.remoteAddr.toString(),
          direction: c.direction,
        })),
      isSyncing: () => this.sync.isSyncing,
    };
  }

  async stop(): Promise<void> {
    await this.sync.stop();
    await this.gossip.stop();
    await this.reqresp.stop();
    await this.host.stop();
  }
}
