/**
 * The `node` namespace of the Beacon API: version, sync status, health, network identity and
 * peers.
 *
 * Identity and peers come from the p2p host when the node runs one (`NetworkInfo`); without it
 * the answers say so rather than invent values: no peers (`meta.count` 0), every peer count 0, a
 * peer lookup is a 404, an empty `peer_id`. `enr` is always empty: peers are found through
 * bootnodes, not discv5. Sync: `sync_distance` is how many slots the head is behind the wall
 * clock; the node reports syncing while its sync layer says so.
 */
import type { routes } from "@lodestar/api";
import { ApiError, type ApplicationMethods } from "@lodestar/api/server";
import { ssz } from "@lodestar/types";
import type { BeaconChain } from "../../../consensus/chain/chain.ts";
import { VERSION } from "../../../version.ts";

export type NodeMethodId =
  | "getNetworkIdentity"
  | "getPeers"
  | "getPeer"
  | "getPeerCount"
  | "getNodeVersion"
  | "getSyncingStatus"
  | "getHealth";

export type NodeMethods = Pick<ApplicationMethods<routes.node.Endpoints>, NodeMethodId>;

/** `opengpu/v<version>/<platform>-<arch>`, the shape of web3_clientVersion on the JSON-RPC side. */
export const NODE_VERSION = `opengpu/v${VERSION}/${process.platform}-${process.arch}`;

const PEER_STATES = new Set<string>(["disconnected", "connecting", "connected", "disconnecting"]);
const PEER_DIRECTIONS = new Set<string>(["inbound", "outbound"]);

/** What the p2p layer tells the Beacon API about the network. */
export interface NetworkInfo {
  peerId: string;
  /** Our listen multiaddrs with `/p2p/<peer id>`. */
  addresses(): string[];
  /** Connected peers. */
  peers(): { peerId: string; address: string; direction: "inbound" | "outbound" }[];
  /** Whether the node is catching up with its peers (range sync). */
  isSyncing?(): boolean;
}

export function nodeMethods(chain: BeaconChain, network?: NetworkInfo): NodeMethods {
  const peerList = () =>
    (network?.peers() ?? []).map((p) => ({
      peerId: p.peerId,
      enr: "",
      lastSeenP2pAddress: p.address,
      state: "connected" as const,
      direction: p.direction,
    }));
  return {
    async getNetworkIdentity() {
      return {
        data: {
          peerId: network?.peerId ?? "",
          enr: "",
          p2pAddresses: network?.addresses() ?? [],
          discoveryAddresses: [],
          metadata: ssz.altair.Metadata.defaultValue(),
        },
      };
    },

    async getPeers({ state, direction }) {
      for (const s of state ?? [])
        if (!PEER_STATES.has(s)) throw new ApiError(400, `Invalid peer state '${s}'`);
      for (const d of direction ?? [])
        if (!PEER_DIRECTIONS.has(d)) throw new ApiError(400, `Invalid peer direction '${d}'`);
      const peers = peerList().filter(
        (p) =>
          (state === undefined || state.length === 0 || state.includes(p.state)) &&
          (direction === undefined || direction.length === 0 || direction.includes(p.direction)),
      );
      return { data: peers, meta: { count: peers.length } };
    },

    async getPeer({ peerId }) {
      const peer = peerList().find((p) => p.peerId === peerId);
      if (peer === undefined) throw new ApiError(404, `Peer ${peerId} is not connected`);
      return { data: peer };
    },

    async getPeerCount() {
      return { data: { disconnected: 0, connecting: 0, connected: peerList().length, disconnecting: 0 } };
    },

    async getNodeVersion() {
      return { data: { version: NODE_VERSION } };
    },

    async getSyncingStatus() {
      const headSlot = chain.head.slot;
      return {
        data: {
          headSlot,
          syncDistance: Math.max(0, chain.clock.currentSlot - headSlot),
          isSyncing: network?.isSyncing?.() ?? false,
          isOptimistic: false,
          elOffline: false,
        },
      };
    },

    async getHealth() {
      // Ready (200): never syncing, and the execution layer runs in this process.
    },
  };
}
