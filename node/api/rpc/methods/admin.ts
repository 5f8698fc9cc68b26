/**
 * The `admin_` namespace (off unless `--rpc.admin`): the node's p2p identity and peers, and
 * connecting, disconnecting and banning peers by hand (geth's admin_addPeer/removePeer shapes,
 * with libp2p multiaddrs instead of enodes). `admin_banPeer`/`admin_unbanPeer` are OpenGPU's:
 * operators drop a misbehaving peer, tests partition a network.
 */
import type { Network } from "../../../p2p/index.ts";
import { RpcError, RpcErrorCode } from "../errors.ts";
import { count, string } from "../params.ts";
import { type MethodTable, method } from "../registry.ts";

export function adminMethods(network: () => Network | undefined): MethodTable {
  const net = (): Network => {
    const n = network();
    if (n === undefined) throw new RpcError(RpcErrorCode.SERVER, "this node runs no p2p network");
    return n;
  };
  return {
    admin_nodeInfo: method([], () => {
      const { host } = net();
      return { id: host.peerId, name: "opengpu", enode: "", listenAddrs: host.multiaddrs };
    }),
    admin_peers: method([], () =>
      net()
        .host.libp2p.getConnections()
        .map((c) => ({
          id: c.remotePeer.toString(),
          network: { remoteAddress: c.remoteAddr.toString(), inbound: c.direction === "inbound" },
        })),
    ),
    admin_addPeer: method([string("multiaddr")], async (addr) => {
      const { parseBootnode } = await import("../../../p2p/host.ts");
      let target: ReturnType<typeof parseBootnode>;
      try {
        target = parseBootnode(addr);
      } catch (err) {
        throw new RpcError(RpcErrorCode.INVALID_PARAMS, (err as Error).message);
      }
      await net().host.libp2p.dial(target.addr);
      return true;
    }),
    admin_removePeer: method([string("peerId")], async (peerId) => {
      const { host } = net();
      const peer = host.libp2p.getPeers().find((p) => p.toString() === peerId);
      if (peer === undefined) return false;
      await host.libp2p.hangUp(peer);
      return true;
    }),
    admin_banPeer: method([string("peerId"), count("seconds")], async (peerId, seconds) => {
      await net().host.ban(peerId, Number(seconds) * 1000, "admin_banPeer");
      return true;
    }),
    admin_unbanPeer: method([string("peerId")], (peerId) => net().host.unban(peerId)),
  };
}
