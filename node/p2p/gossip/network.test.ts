/**
 * Gossip between real dev nodes on loopback: two proof-of-stake nodes share a genesis and split
 * its four validators (A runs 0 and 1, B runs 2 and 3), so neither can finalize alone. Slots are
 * driven by hand on both clocks; after each node's duties the test waits until the other node
 * has validated everything it published (a barrier on the registries' events), so each step is
 * deterministic.
 */
import { bytesToHex } from "@ethereumjs/util";
import { computeSigningRoot, interopSecretKey } from "@lodestar/state-transition";
import { type electra, type phase0, ssz } from "@lodestar/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../../../test/helpers/dev-node.ts";
import type { ConsensusLayer } from "../../consensus/index.ts";
import { silentLogger } from "../../utils/logger.ts";
import { P2PHost } from "../host.ts";
import type { UnknownParentEvent } from "./consensus.ts";
import { GossipNetwork, gossipsubOptionsFor } from "./network.ts";
import type { GossipRegistryEvents } from "./registry.ts";
import { ConsensusTopic } from "./topics.ts";
import { TRANSACTIONS_TOPIC } from "./transactions.ts";

interface Peer {
  name: string;
  dev: DevNodeHandle;
  cl: ConsensusLayer;
  host: P2PHost;
  gossip: GossipNetwork;
  validators: number[];
  /** Messages this node sent, by recipient peer id. */
  sent: Map<string, number>;
  /** Messages this node finished validating, by sender peer id. */
  validated: Map<string, number>;
  events: Parameters<GossipRegistryEvents["validated"]>[0][];
}

const peers: Peer[] = [];
let genesisMs = 0;
let slotMs = 0;

async function startPeer(name: string, validators: number[], bootnodes: string[], base?: DevNodeHandle) {
  const dev = await startDevNode({
    consensus: true,
    automine: false,
    validators,
    genesis: base?.node.el.chain.config.genesis,
  });
  const cl = dev.node.consensus as ConsensusLayer;
  const host = await P2PHost.start(
    { datadir: dev.datadir, host: "127.0.0.1", port: 0, bootnodes, maxPeers: 10 },
    { logger: silentLogger(), gossip: gossipsubOptionsFor(cl) },
  );
  const gossip = new GossipNetwork({ host, consensus: cl, execution: dev.node.el, logger: silentLogger() });
  const peer: Peer = {
    name,
    dev,
    cl,
    host,
    gossip,
    validators,
    sent: new Map(),
    validated: new Map(),
    events: [],
  };
  gossip.registry.on("published", ({ recipients }) => {
    for (const r of recipients) peer.sent.set(r, (peer.sent.get(r) ?? 0) + 1);
  });
  gossip.registry.on("validated", (e) => {
    peer.validated.set(e.peer, (peer.validated.get(e.peer) ?? 0) + 1);
    peer.events.push(e);
  });
  gossip.start();
  peers.push(peer);
  return peer;
}

/** Resolves once `check` holds, re-checked on every validation `peer` finishes. */
function until(peer: Peer, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = peer.gossip.registry.on("validated", () => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}

/** Waits until `to` has validated everything `from` published to it so far. */
async function barrier(from: Peer, to: Peer): Promise<void> {
  await from.gossip.registry.flush();
  const target = from.sent.get(to.host.peerId) ?? 0;
  await until(to, () => (to.validated.get(from.host.peerId) ?? 0) >= target);
}

/** Resolves once `peer`'s gossip router knows `other` subscribes to the block and transaction topics. */
function subscribed(peer: Peer, other: Peer): Promise<void> {
  const ok = () =>
    [ConsensusTopic.beaconBlock, TRANSACTIONS_TOPIC].every((t) =>
      peer.gossip.registry.subscribers(t).includes(other.host.peerId),
    );
  if (ok()) return Promise.resolve();
  return new Promise((resolve) => {
    const on = () => {
      if (!ok()) return;
      peer.gossip.router.removeEventListener("subscription-change", on);
      resolve();
    };
    peer.gossip.router.addEventListener("subscription-change", on);
  });
}

function setClocks(slot: number, fractionBps: number): void {
  for (const p of peers)
    p.dev.setTime(genesisMs + slot * slotMs + Math.ceil((slotMs * fractionBps) / 10_000));
}

/** One slot on A and B: the proposer's node first, then the other, each followed by a barrier. */
async function playSlot(a: Peer, b: Peer, slot: number): Promise<void> {
  setClocks(slot, 6667);
  const proposer = (await a.cl.chain.stateAtSlot(slot)).epochCtx.getBeaconProposer(slot);
  const [first, second] = a.validators.includes(proposer) ? [a, b] : [b, a];
  await first.dev.runSlot(slot);
  await barrier(first, second);
  await second.dev.runSlot(slot);
  await barrier(second, first);
}

function accepted(peer: Peer, topic: (t: string) => boolean, from: Peer): number {
  return peer.events.filter((e) => e.verdict === "ACCEPT" && topic(e.topic) && e.peer === from.host.peerId)
    .length;
}

function heartbeats(peer: Peer, n = 2): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const on = () => {
      if (--left > 0) return;
      peer.gossip.router.removeEventListener("gossipsub:heartbeat", on);
      resolve();
    };
    peer.gossip.router.addEventListener("gossipsub:heartbeat", on);
  });
}

describe("gossip between proof-of-stake nodes", () => {
  let a: Peer;
  let b: Peer;
  const LAST_SLOT = 40;

  beforeAll(async () => {
    a = await startPeer("A", [0, 1], []);
    b = await startPeer("B", [2, 3], [a.host.multiaddrs[0]], a.dev);
    const genesis = a.dev.node.el.chain.config.genesis;
    genesisMs = Number(BigInt(genesis.timestamp)) * 1000;
    slotMs = a.cl.clock.slotMs;
    expect(b.cl.chain.genesisRoot).toBe(a.cl.chain.genesisRoot);
    await subscribed(a, b);
    await subscribed(b, a);
  });

  afterAll(async () => {
    for (const p of peers.splice(0).reverse()) {
      await p.gossip.stop();
      await p.host.stop();
      await p.dev.stop();
    }
  });

  it("carries blocks, attestations, aggregates and sync messages: split validators finalize together", async () => {
    for (let slot = 1; slot <= LAST_SLOT; slot++) {
      await playSlot(a, b, slot);
      expect(b.cl.chain.head.blockRoot, `slot ${slot}`).toBe(a.cl.chain.head.blockRoot);
    }
    expect(a.cl.chain.head.slot).toBe(LAST_SLOT);
    // Both nodes proposed, and each imported the other's blocks from gossip.
    expect(accepted(a, (t) => t === ConsensusTopic.beaconBlock, b)).toBeGreaterThan(0);
    expect(accepted(b, (t) => t === ConsensusTopic.beaconBlock, a)).toBeGreaterThan(0);
    // Votes crossed over: with half the stake each, finality needs both nodes' attestations.
    for (const p of [a, b]) expect(p.cl.chain.finalizedCheckpoint.epoch).toBeGreaterThanOrEqual(2);
    expect(b.cl.chain.finalizedCheckpoint).toEqual(a.cl.chain.finalizedCheckpoint);
    for (const [to, from] of [
      [a, b],
      [b, a],
    ]) {
      expect(accepted(to, (t) => t.startsWith("beacon_attestation_"), from)).toBeGreaterThan(0);
      expect(accepted(to, (t) => t === ConsensusTopic.aggregateAndProof, from)).toBeGreaterThan(0);
      expect(accepted(to, (t) => t.startsWith("sync_committee_"), from)).toBeGreaterThan(0);
    }
    // The head's sync aggregate holds all 32 positions: each proposer had the other node's messages.
    const head = a.cl.chain.getBlock(a.cl.chain.head.blockRoot) as electra.SignedBeaconBlock;
    expect(head.message.body.syncAggregate.syncCommitteeBits.getTrueBitIndexes().length).toBe(32);
    // Nothing valid was turned away.
    for (const p of [a, b]) expect(p.events.filter((e) => e.verdict === "REJECT")).toEqual([]);
    // The execution layers followed: same head block on both.
    expect(b.dev.node.el.chain.head.hash()).toEqual(a.dev.node.el.chain.head.hash());
  }, 180_000);

  it("spreads a transaction sent to A's pool to B's pool", async () => {
    const [from, to] = a.dev.accounts;
    const hash = await a.dev.call<string>("eth_sendTransaction", [
      { from: from.address, to: to.address, value: "0x1000", gas: "0x5208" },
    ]);
    await barrier(a, b);
    expect(a.dev.node.el.pool.get(hash)).toBeDefined();
    expect(b.dev.node.el.pool.get(hash)?.local).toBe(false);
    expect(b.events.filter((e) => e.topic === TRANSACTIONS_TOPIC)).toMatchObject([
      { verdict: "ACCEPT", peer: a.host.peerId },
    ]);
    // B does not send it back (gossipsub never returns a message to its source; B never republishes).
    await b.gossip.registry.flush();
    expect(a.events.some((e) => e.topic === TRANSACTIONS_TOPIC)).toBe(false);
    // Whoever proposes next includes it, and both execution layers see it mined.
    await playSlot(a, b, LAST_SLOT + 1);
    const receipt = await b.dev.call<{ status: string } | null>("eth_getTransactionReceipt", [hash]);
    expect(receipt?.status).toBe("0x1");
  }, 60_000);

  it("spreads an exit accepted by A's op pool, ignores a repeat and rejects a forged one", async () => {
    const signExit = (validatorIndex: number, epoch: number, key: number): phase0.SignedVoluntaryExit => {
      const message = { epoch, validatorIndex };
      const domain = a.cl.config.getDomainForVoluntaryExit(a.cl.chain.headState.slot);
      const root = computeSigningRoot(ssz.phase0.VoluntaryExit, message, domain);
      return { message, signature: interopSecretKey(key).sign(root).toBytes() };
    };
    const verdicts = () => b.events.filter((e) => e.topic === ConsensusTopic.voluntaryExit);
    // What the Beacon API does with a POSTed exit: the submitter accepts it, gossip publishes it.
    a.cl.submit.voluntaryExit(signExit(0, 1, 0));
    await barrier(a, b);
    expect(verdicts()).toMatchObject([{ verdict: "ACCEPT", peer: a.host.peerId }]);
    expect(b.cl.ops.counts.exits).toBe(1);
    // A second exit of the same validator: IGNOREd, not penalized.
    await a.gossip.registry.publish(ConsensusTopic.voluntaryExit, signExit(0, 2, 0));
    // An exit of validator 2 signed with validator 3's key: REJECTed.
    await a.gossip.registry.publish(ConsensusTopic.voluntaryExit, signExit(2, 1, 3));
    await barrier(a, b);
    expect(verdicts().slice(1)).toMatchObject([
      { verdict: "IGNORE", reason: "already_seen" },
      { verdict: "REJECT", reason: "invalid_voluntary_exit" },
    ]);
    expect(b.cl.ops.counts.exits).toBe(1);
  }, 60_000);

  it("rejects a block with a bad proposer signature and lowers the sender's score", async () => {
    // A copy of the head block claiming another proposer: unknown root, new (slot, proposer), and
    // a signature that is not that proposer's.
    const head = a.cl.chain.getBlock(a.cl.chain.head.blockRoot) as electra.SignedBeaconBlock;
    const forged: electra.SignedBeaconBlock = ssz.electra.SignedBeaconBlock.clone(head);
    forged.message.proposerIndex = (head.message.proposerIndex + 1) % 4;
    const before = b.gossip.peerScore(a.host.peerId);
    const rejected = new Promise<Parameters<GossipRegistryEvents["validated"]>[0]>((resolve) => {
      const off = b.gossip.registry.on("validated", (e) => {
        if (e.topic !== ConsensusTopic.beaconBlock) return;
        off();
        resolve(e);
      });
    });
    expect(await a.gossip.registry.publish(ConsensusTopic.beaconBlock, forged)).toBe(1);
    expect(await rejected).toMatchObject({
      verdict: "REJECT",
      reason: "invalid_signature",
      peer: a.host.peerId,
    });
    await heartbeats(b);
    const after = b.gossip.peerScore(a.host.peerId);
    expect(after).toBeLessThan(before - 100);
    expect(after).toBeLessThan(0);
    const forgedRoot = bytesToHex(ssz.electra.BeaconBlock.hashTreeRoot(forged.message));
    expect(b.cl.chain.forkChoice.hasBlock(forgedRoot)).toBe(false);
    // Still above the gossip threshold: A's next valid block goes through.
    await playSlot(a, b, LAST_SLOT + 2);
    expect(b.cl.chain.head.blockRoot).toBe(a.cl.chain.head.blockRoot);
  }, 60_000);

  it("reports a block whose parent is unknown (a node joining late) for the sync layer", async () => {
    const c = await startPeer("C", [], [a.host.multiaddrs[0]], a.dev);
    await subscribed(c, a);
    await subscribed(a, c);
    const parents: UnknownParentEvent[] = [];
    c.gossip.on("unknownParent", (e) => parents.push(e));
    const slot = LAST_SLOT + 3;
    const parentRoot = a.cl.chain.head.blockRoot;
    // C knows only the genesis: the next block's parent is unknown to it.
    await playSlot(a, b, slot);
    const blockRoot = a.cl.chain.head.blockRoot;
    expect(a.cl.chain.head.slot).toBe(slot);
    const blockEvent = () =>
      c.events.find(
        (e) =>
          e.topic === ConsensusTopic.beaconBlock &&
          bytesToHex(
            ssz.electra.BeaconBlock.hashTreeRoot((e.message as electra.SignedBeaconBlock).message),
          ) === blockRoot,
      );
    await until(c, () => blockEvent() !== undefined);
    expect(blockEvent()).toMatchObject({ verdict: "IGNORE", reason: "parent_unknown", peer: a.host.peerId });
    expect(parents.find((e) => e.blockRoot === blockRoot)).toMatchObject({
      blockRoot,
      parentRoot,
      slot,
      peer: a.host.peerId,
    });
    expect(c.cl.chain.forkChoice.hasBlock(blockRoot)).toBe(false);
  }, 60_000);
});
