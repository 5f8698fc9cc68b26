/**
 * The `node` namespace of the Beacon API: version, sync status, health, network identity and
 * peers.
 *
 * This build has no p2p layer yet, and the answers say so rather than invent values: the peer
 * list is empty (`meta.count` 0) and every peer count is 0, a peer lookup is a 404, and the
 * identity has an empty `peer_id` and `enr`, no p2p or discovery addresses, and sequence number
 * 0 with no attestation or sync subnets (the metadata a node subscribed to nothing advertises).
 * All of it fills in with the p2p layer. Sync: blocks only come from this node's own
 * validators, so the node is never syncing; `sync_distance` is how many slots the head is
 * behind the wall clock.
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

export function nodeMethods(chain: BeaconChain): NodeMethods {
  return {
    async getNetworkIdentity() {
      return {
        data: {
          peerId: "",
          enr: "",
          p2pAddresses: [],
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
      return { data: [], meta: { count: 0 } };
    },

    async getPeer({ peerId }) {
      throw new ApiError(404, `Peer ${peerId} not found: this node has no peers (no p2p layer yet)`);
    },

    async getPeerCount() {
      return { data: { disconnected: 0, connecting: 0, connected: 0, disconnecting: 0 } };
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
          isSyncing: false,
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
