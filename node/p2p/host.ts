/**
 * The node's libp2p host: TCP, Noise, Yamux, identify, ping and gossipsub, with a persisted node
 * key (`<datadir>/p2p/node-key`, so the peer id survives restarts), a peer limit, bans, and
 * redials of the bootnodes and of recently seen peers whenever the node has fewer peers than it
 * wants (after a restart, a partition or a peer's restart).
 *
 * Layers above talk to the network through `libp2p.services.pubsub` (gossip topics, see
 * `gossip/`) and protocol handlers (req/resp, see `reqresp/`); this module owns only the host and
 * its peers.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import { type GossipSub, type GossipsubOpts, gossipsub } from "@libp2p/gossipsub";
import { type Identify, identify } from "@libp2p/identify";
import type { PeerId, PrivateKey } from "@libp2p/interface";
import { type Ping, ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import { createLibp2p, type Libp2p } from "libp2p";
import { OpenGpuError } from "../utils/errors.ts";
import type { Logger } from "../utils/logger.ts";

export interface P2POptions {
  /** The node key lives in `<datadir>/p2p/node-key`. */
  datadir: string;
  /** Listen address (0.0.0.0 for a public node, 127.0.0.1 for local networks). */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Multiaddrs with `/p2p/<peer id>` the node dials at start and whenever it lacks peers. */
  bootnodes: string[];
  /** Most connected peers. */
  maxPeers: number;
}

export const DEFAULT_P2P_PORT = 9000;
export const DEFAULT_MAX_PEERS = 50;
/** How often the peer manager checks its peer count and redials. */
const REDIAL_INTERVAL_MS = 2_000;

export const P2PErrorCode = {
  /** A bootnode multiaddr cannot be parsed or has no peer id. */
  INVALID_BOOTNODE: "P2P_INVALID_BOOTNODE",
  /** The node key file is unreadable or not a libp2p private key. */
  INVALID_NODE_KEY: "P2P_INVALID_NODE_KEY",
} as const;
export type P2PErrorCode = (typeof P2PErrorCode)[keyof typeof P2PErrorCode];
export class P2PError extends OpenGpuError<P2PErrorCode> {
  override name = "P2PError";
}

export type P2PServices = { identify: Identify; ping: Ping; pubsub: GossipSub };

/** Loads the node key, creating it (Ed25519, mode 0600) on first start. */
export async function loadNodeKey(datadir: string): Promise<PrivateKey> {
  const dir = join(datadir, "p2p");
  const file = join(dir, "node-key");
  if (existsSync(file)) {
    try {
      return privateKeyFromProtobuf(readFileSync(file));
    } catch (err) {
      throw new P2PError(
        P2PErrorCode.INVALID_NODE_KEY,
        `${file} is not a libp2p private key`,
        {},
        { cause: err },
      );
    }
  }
  mkdirSync(dir, { recursive: true });
  const key = await generateKeyPair("Ed25519");
  writeFileSync(`${file}.tmp`, privateKeyToProtobuf(key), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  chmodSync(file, 0o600);
  return key;
}

export function parseBootnode(text: string): { addr: Multiaddr; peerId: string } {
  let addr: Multiaddr;
  try {
    addr = multiaddr(text);
  } catch (err) {
    throw new P2PError(
      P2PErrorCode.INVALID_BOOTNODE,
      `bootnode ${text} is not a multiaddr`,
      {},
      { cause: err },
    );
  }
  const peerId = addr.getComponents().find((c) => c.name === "p2p")?.value;
  if (peerId === undefined) {
    throw new P2PError(P2PErrorCode.INVALID_BOOTNODE, `bootnode ${text} has no /p2p/<peer id>`);
  }
  return { addr, peerId };
}

export class P2PHost {
  readonly libp2p: Libp2p<P2PServices>;
  private readonly opts: P2POptions;
  private readonly logger: Logger;
  private readonly bootnodes: { addr: Multiaddr; peerId: string }[];
  /** Peer id → unix ms until which it is banned. */
  private readonly bans = new Map<string, number>();
  private redialTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    libp2p: Libp2p<P2PServices>,
    opts: P2POptions,
    bootnodes: { addr: Multiaddr; peerId: string }[],
    bans: Map<string, number>,
    logger: Logger,
  ) {
    this.libp2p = libp2p;
    this.opts = opts;
    this.bootnodes = bootnodes;
    this.bans = bans;
    this.logger = logger;
  }

  /**
   * Creates and starts the host. `gossip` adds gossipsub settings (message ids, scoring) owned
   * by the gossip layer.
   */
  static async start(
    opts: P2POptions,
    modules: { logger: Logger; gossip?: Partial<GossipsubOpts> },
  ): Promise<P2PHost> {
    const bootnodes = opts.bootnodes.map(parseBootnode);
    const privateKey = await loadNodeKey(opts.datadir);
    const bans = new Map<string, number>();
    const banned = (peer: PeerId) => {
      const until = bans.get(peer.toString());
      if (until === undefined) return false;
      if (until > Date.now()) return true;
      bans.delete(peer.toString());
      return false;
    };
    const libp2p = await createLibp2p({
      privateKey,
      addresses: { listen: [`/ip4/${opts.host}/tcp/${opts.port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { maxConnections: opts.maxPeers },
      connectionGater: {
        // Local networks run on loopback: allow private addresses.
        denyDialMultiaddr: () => false,
        denyDialPeer: (peer) => banned(peer),
        denyInboundEncryptedConnection: (peer) => banned(peer),
        denyOutboundEncryptedConnection: (peer) => banned(peer),
      },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true, ...modules.gossip }),
      },
    });
    const host = new P2PHost(libp2p, opts, bootnodes, bans, modules.logger);
    libp2p.addEventListener("peer:connect", (e) => {
      host.logger.debug({ peer: e.detail.toString() }, "Peer connected");
    });
    libp2p.addEventListener("peer:disconnect", (e) => {
      host.logger.debug({ peer: e.detail.toString() }, "Peer disconnected");
    });
    host.logger.info(
      { peerId: libp2p.peerId.toString(), addrs: host.multiaddrs, bootnodes: opts.bootnodes.length },
      "P2P listening",
    );
    host.redial();
    return host;
  }

  get peerId(): string {
    return this.libp2p.peerId.toString();
  }

  /** Our listen addresses with `/p2p/<peer id>`, as other nodes' `--bootnodes` take them. */
  get multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((a) => a.toString());
  }

  /** Currently connected peers. */
  get peers(): string[] {
    return this.libp2p.getPeers().map((p) => p.toString());
  }

  /** Disconnects a peer and refuses it for `ms`. */
  async ban(peerId: string, ms: number, reason: string): Promise<void> {
    this.bans.set(peerId, Date.now() + ms);
    this.logger.warn({ peer: peerId, reason, seconds: Math.round(ms / 1000) }, "Peer banned");
    const peer = this.libp2p.getPeers().find((p) => p.toString() === peerId);
    if (peer !== undefined) await this.libp2p.hangUp(peer).catch(() => {});
  }

  /** Lifts a ban; returns whether there was one. */
  unban(peerId: string): boolean {
    return this.bans.delete(peerId);
  }

  isBanned(peerId: string): boolean {
    const until = this.bans.get(peerId);
    return until !== undefined && until > Date.now();
  }

  /**
   * Keeps the node connected: while it has fewer than half its peer limit, dials the bootnodes
   * and the peers it knows (peer store) that it is not connected to.
   */
  private redial(): void {
    if (this.stopped) return;
    const connected = new Set(this.peers);
    if (connected.size < Math.max(1, Math.floor(this.opts.maxPeers / 2))) {
      const targets = new Map<string, Multiaddr | PeerId>();
      for (const b of this.bootnodes) if (!connected.has(b.peerId)) targets.set(b.peerId, b.addr);
      void this.libp2p.peerStore
        .all()
        .then((known) => {
          for (const p of known) {
            const id = p.id.toString();
            if (id !== this.peerId && !connected.has(id) && !targets.has(id) && p.addresses.length > 0)
              targets.set(id, p.id);
          }
          for (const [id, target] of targets) {
            if (this.isBanned(id)) continue;
            void this.libp2p.dial(target).catch((err: unknown) => {
              this.logger.debug({ peer: id, err: (err as Error).message }, "Dial failed");
            });
          }
        })
        .catch(() => {});
    }
    this.redialTimer = setTimeout(() => this.redial(), REDIAL_INTERVAL_MS);
    this.redialTimer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.redialTimer);
    await this.libp2p.stop();
  }
}
