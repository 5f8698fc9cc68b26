import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO } from "@lodestar/params";
import { computeEpochAtSlot, computeSigningRoot, computeStartSlotAtEpoch } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../../../test/helpers/dev-node.ts";
import { BlockProducer } from "../../consensus/chain/produce.ts";
import type { ConsensusLayer } from "../../consensus/index.ts";
import type { Hex } from "../../execution/engine/types.ts";
import { silentLogger } from "../../utils/logger.ts";
import { P2PHost } from "../host.ts";
import { consensusReqRespProvider } from "./provider.ts";
import { ReqResp } from "./reqresp.ts";

const SKIPPED = [13, 30];
/** Two competing children of the block at FORK_SLOT - 1, at FORK_SLOT and FORK_SLOT + 1: one loses. */
const FORK_SLOT = 41;
const LAST_SLOT = 44;

/** A signed block for `slot` on the current head, made unique by `graffiti`. */
async function makeBlock(dev: DevNodeHandle, cl: ConsensusLayer, slot: number, graffiti: string) {
  const producer = new BlockProducer({
    chain: cl.chain,
    engine: dev.node.el.engine,
    attestations: cl.attestations,
    syncCommittee: cl.syncCommittee,
    ops: cl.ops,
  });
  const state = await cl.chain.stateAtSlot(slot);
  const pubkey = state.validators.getReadonly(state.epochCtx.getBeaconProposer(slot)).pubkey;
  const keys = (
    cl.validator as unknown as {
      keys: { secretKey: { sign(m: Uint8Array): { toBytes(): Uint8Array } }; pubkey: Uint8Array }[];
    }
  ).keys;
  const sk = keys.find((k) => Buffer.compare(k.pubkey, pubkey) === 0)?.secretKey;
  if (sk === undefined) throw new Error("no proposer key");
  const epoch = computeEpochAtSlot(slot);
  const randaoReveal = sk
    .sign(computeSigningRoot(ssz.Epoch, epoch, cl.config.getDomain(slot, DOMAIN_RANDAO)))
    .toBytes();
  const g = new Uint8Array(32);
  g.set(new TextEncoder().encode(graffiti));
  const { block } = await producer.produce({
    slot,
    randaoReveal,
    graffiti: g,
    feeRecipient: dev.accounts[1].address as Hex,
  });
  const root = computeSigningRoot(
    ssz.electra.BeaconBlock,
    block,
    cl.config.getDomain(slot, DOMAIN_BEACON_PROPOSER),
  );
  return { message: block, signature: sk.sign(root).toBytes() } as electra.SignedBeaconBlock;
}

describe("req/resp served from a proof-of-stake dev chain", () => {
  let dev: DevNodeHandle;
  let cl: ConsensusLayer;
  const hosts: P2PHost[] = [];
  const services: ReqResp[] = [];
  const dirs: string[] = [];
  let orphan: electra.SignedBeaconBlock;

  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, automine: false });
    if (dev.node.consensus === undefined) throw new Error("no consensus");
    cl = dev.node.consensus;
    for (let slot = 1; slot < FORK_SLOT; slot++) if (!SKIPPED.includes(slot)) await dev.runSlot(slot);
    const genesisMs = Number(BigInt(dev.node.el.chain.config.genesis.timestamp)) * 1000;
    dev.setTime(genesisMs + FORK_SLOT * 2000);
    const a = await makeBlock(dev, cl, FORK_SLOT, "branch-a");
    dev.setTime(genesisMs + (FORK_SLOT + 1) * 2000);
    const b = await makeBlock(dev, cl, FORK_SLOT + 1, "branch-b");
    const rootA = await cl.chain.importBlock(a, { isTimely: false });
    await cl.chain.importBlock(b, { isTimely: false });
    orphan = cl.chain.head.blockRoot === rootA ? b : a;
    for (let slot = FORK_SLOT + 2; slot <= LAST_SLOT; slot++) await dev.runSlot(slot);
  });

  afterAll(async () => {
    for (const s of services) await s.stop();
    for (const h of hosts) await h.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await dev?.stop();
  });

  async function node(): Promise<{ host: P2PHost; rr: ReqResp }> {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-reqresp-"));
    dirs.push(dir);
    const host = await P2PHost.start(
      { datadir: dir, host: "127.0.0.1", port: 0, bootnodes: [], maxPeers: 10 },
      { logger: silentLogger() },
    );
    hosts.push(host);
    const rr = new ReqResp({ host, provider: consensusReqRespProvider(cl), logger: silentLogger() });
    await rr.start();
    services.push(rr);
    return { host, rr };
  }

  it("serves canonical blocks by range across the finalized boundary and past a fork, by root, and its status", async () => {
    const finalized = cl.chain.finalizedCheckpoint;
    expect(finalized.epoch).toBeGreaterThanOrEqual(2);
    const finalizedSlot = computeStartSlotAtEpoch(finalized.epoch);
    // Below the finalized block, blocks are found through the canonical slot index.
    expect(cl.db.getCanonicalRoot(5)).toBeDefined();

    // The canonical chain, walked back from the head through parent roots.
    const expected = new Map<number, Uint8Array>();
    const roots = new Map<number, Uint8Array>();
    for (let root = cl.chain.head.blockRoot; ; ) {
      const block = cl.chain.getBlock(root);
      if (block === undefined) break;
      expected.set(block.message.slot, ssz.electra.SignedBeaconBlock.serialize(block));
      roots.set(block.message.slot, ssz.electra.BeaconBlock.hashTreeRoot(block.message));
      root = `0x${Buffer.from(block.message.parentRoot).toString("hex")}`;
    }
    const slots = [...expected.keys()].sort((a, b) => a - b);
    const lost = orphan.message.slot;
    expect(slots).toEqual(
      Array.from({ length: LAST_SLOT }, (_, i) => i + 1).filter((s) => !SKIPPED.includes(s) && s !== lost),
    );

    const server = await node();
    const client = await node();
    await client.host.libp2p.dial(server.host.libp2p.getMultiaddrs()[0]);
    const peer = server.host.peerId;

    const all = await client.rr.blocksByRange(peer, 0, 128);
    expect(all.map((b) => b.message.slot)).toEqual(slots);
    for (const block of all)
      expect(
        Buffer.compare(
          ssz.electra.SignedBeaconBlock.serialize(block),
          expected.get(block.message.slot) as Uint8Array,
        ),
      ).toBe(0);
    // A range straddling the finalized slot, and one past the head.
    const straddle = await client.rr.blocksByRange(peer, finalizedSlot - 4, 8);
    expect(straddle.map((b) => b.message.slot)).toEqual(
      slots.filter((s) => s >= finalizedSlot - 4 && s < finalizedSlot + 4),
    );
    const recent = await client.rr.blocksByRange(peer, LAST_SLOT - 3, 10);
    expect(recent.map((b) => b.message.slot)).toEqual(slots.filter((s) => s >= LAST_SLOT - 3));
    expect(await client.rr.blocksByRange(peer, 10, 3)).toHaveLength(3);
    expect(await client.rr.blocksByRange(peer, 13, 1)).toEqual([]);

    const wanted = [
      roots.get(5) as Uint8Array,
      new Uint8Array(32).fill(0xab),
      roots.get(LAST_SLOT) as Uint8Array,
    ];
    const byRoot = await client.rr.blocksByRoot(peer, wanted);
    expect(byRoot.map((b) => b.message.slot)).toEqual([5, LAST_SLOT]);
    expect(
      Buffer.compare(
        ssz.electra.SignedBeaconBlock.serialize(byRoot[1]),
        expected.get(LAST_SLOT) as Uint8Array,
      ),
    ).toBe(0);

    // The losing block of the fork: served by root, never by range.
    const orphanRoot = ssz.electra.BeaconBlock.hashTreeRoot(orphan.message);
    const [fork] = await client.rr.blocksByRoot(peer, [orphanRoot]);
    expect(fork.message.body.graffiti).toEqual(orphan.message.body.graffiti);
    const around = await client.rr.blocksByRange(peer, FORK_SLOT - 1, 4);
    expect(around.map((b) => b.message.slot)).toEqual(
      slots.filter((s) => s >= FORK_SLOT - 1 && s < FORK_SLOT + 3),
    );
    expect(around.map((b) => b.message.slot)).not.toContain(lost);

    const status = await client.rr.status(peer);
    expect(status.headSlot).toBe(LAST_SLOT);
    expect(status.headRoot).toEqual(roots.get(LAST_SLOT));
    expect(status.finalizedEpoch).toBe(finalized.epoch);
    expect(`0x${Buffer.from(status.finalizedRoot).toString("hex")}`).toBe(finalized.root);
    expect(status.forkDigest).toEqual(cl.config.forkBoundary2ForkDigest(cl.config.getForkBoundaryAtEpoch(0)));
    expect((await client.rr.metadata(peer)).seqNumber).toBe(0n);
  });
});
