/**
 * A network partition on a 4-node devnet (16 interop validators, 4 per node): once the nodes
 * have finalized together, nodes {0,1} and {2,3} ban each other (admin_banPeer: the connection
 * gater refuses the other half). Each half holds 50% of the stake, short of the 2/3 needed to
 * justify, so while split neither half finalizes and the two build separate branches. Healed
 * (admin_unbanPeer + admin_addPeer), the halves exchange their branches (gossip parent lookups
 * and range sync from the finalized checkpoint), fork choice converges on one head and finality
 * resumes past the split. Throughout, every finalized (epoch, root) pair any node reports is
 * recorded: no two nodes may ever finalize different roots for the same epoch.
 *
 * OPENGPU_TEST_KEEP=1 keeps the devnet directory with each node's log (node-N.log).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, type DevnetNode, startDevnet } from "../../scripts/devnet.ts";
import { rpc, until } from "./util.ts";
import { currentSlot, FinalityRecorder, finalityOf, headOf, knowsBlock, peersOf } from "./watch.ts";

const SLOT_SECONDS = 2;
const SLOTS_PER_EPOCH = 8;
const EPOCH_MS = SLOT_SECONDS * SLOTS_PER_EPOCH * 1000;
const BAN_SECONDS = 3600;

let dir: string;
let devnet: Devnet;
let recorder: FinalityRecorder;

const halves: [number[], number[]] = [
  [0, 1],
  [2, 3],
];
const otherHalf = (i: number) => (halves[0].includes(i) ? halves[1] : halves[0]);
const logs = () =>
  devnet.nodes.map((n) => `--- node ${n.index}\n${devnet.output(n.index).slice(-1500)}`).join("\n");
const epochNow = () => Math.floor(currentSlot(devnet, SLOT_SECONDS) / SLOTS_PER_EPOCH);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-partition-test-"));
  devnet = await startDevnet({
    nodes: 4,
    validators: 16,
    dir,
    slotSeconds: SLOT_SECONDS,
    genesisDelay: 10,
    logLevel: "info",
  });
  recorder = new FinalityRecorder(devnet);
  recorder.start();
}, 120_000);

afterAll(async () => {
  recorder?.stop();
  await devnet?.stop();
  if (dir === undefined) return;
  if (process.env.OPENGPU_TEST_KEEP === "1") {
    for (const n of devnet?.nodes ?? [])
      writeFileSync(join(dir, `node-${n.index}.log`), devnet.output(n.index));
    process.stdout.write(`partition test: devnet kept in ${dir}\n`);
  } else rmSync(dir, { recursive: true, force: true });
});

describe("partition of a 4-node devnet into 2+2", () => {
  let splitFinalized = 0;

  it("finalizes together before the split", async () => {
    await until(
      async () => (await Promise.all(devnet.nodes.map(finalityOf))).every((f) => f.finalized.epoch >= 2),
      180_000,
      logs,
    );
    for (const n of devnet.nodes) expect((await peersOf(n)).length).toBe(3);
  }, 200_000);

  it("splits: no cross-half connections, no finality, diverging heads", async () => {
    const splitEpoch = epochNow();
    for (const n of devnet.nodes)
      for (const o of otherHalf(n.index))
        await rpc<boolean>(n.rpc, "admin_banPeer", [devnet.nodes[o].peerId, BAN_SECONDS]);
    // Every cross-half connection is gone and stays gone (the redial loop skips banned peers;
    // the gater refuses them inbound).
    const crossPeers = async (n: DevnetNode) => {
      const others = new Set(otherHalf(n.index).map((o) => devnet.nodes[o].peerId));
      return (await peersOf(n)).filter((p) => others.has(p));
    };
    await until(
      async () => (await Promise.all(devnet.nodes.map(crossPeers))).every((c) => c.length === 0),
      10_000,
      logs,
    );
    await new Promise((r) => setTimeout(r, 5_000));
    for (const n of devnet.nodes) {
      expect(await crossPeers(n)).toEqual([]);
      // Still connected inside its half.
      const peers = await peersOf(n);
      const mate = halves[0].includes(n.index) ? halves[0] : halves[1];
      for (const m of mate) if (m !== n.index) expect(peers).toContain(devnet.nodes[m].peerId);
    }

    // Votes cast before the split may still justify the split epoch on a branch and finalize a
    // checkpoint from before it: let two epoch boundaries pass, then nothing may finalize.
    // (Epoch processing runs with a branch's first block of the epoch: wait for every head to
    // be past the boundary.)
    await until(
      async () =>
        (await Promise.all(devnet.nodes.map(headOf))).every(
          (h) => Math.floor(h.slot / SLOTS_PER_EPOCH) >= splitEpoch + 2,
        ),
      4 * EPOCH_MS,
      logs,
    );
    const before = await Promise.all(devnet.nodes.map(finalityOf));
    splitFinalized = Math.max(...before.map((f) => f.finalized.epoch));
    const sampleUntil = Date.now() + 3 * EPOCH_MS + 2_000;
    let diverged = false;
    while (Date.now() < sampleUntil) {
      const now = await Promise.all(devnet.nodes.map(finalityOf));
      for (const [i, f] of now.entries())
        expect(f.finalized.epoch, `node ${i} finalized during the split`).toBe(before[i].finalized.epoch);
      const heads = await Promise.all(devnet.nodes.map(headOf));
      // A's head is unknown to B and the other way round: two branches.
      if (
        !(await knowsBlock(devnet.nodes[2], heads[0].root)) &&
        !(await knowsBlock(devnet.nodes[0], heads[2].root))
      )
        diverged = true;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    expect(diverged, "the halves' heads never diverged").toBe(true);
    // Each half built on its own: their heads differ at the end of the split.
    const heads = await Promise.all(devnet.nodes.map(headOf));
    expect(heads[0].root).not.toBe(heads[2].root);
    expect(heads[1].root).not.toBe(heads[3].root);
    expect(recorder.conflicts()).toEqual([]);
  }, 150_000);

  it("heals: reconnects, converges on one head and finalizes past the split", async () => {
    for (const n of devnet.nodes)
      for (const o of otherHalf(n.index))
        await rpc<boolean>(n.rpc, "admin_unbanPeer", [devnet.nodes[o].peerId]);
    for (const n of halves[0].map((i) => devnet.nodes[i]))
      for (const o of halves[1]) await rpc<boolean>(n.rpc, "admin_addPeer", [devnet.nodes[o].p2p]);
    await until(
      async () => (await Promise.all(devnet.nodes.map(peersOf))).every((p) => p.length === 3),
      20_000,
      logs,
    );
    // Finality resumes: every node finalizes an epoch past the one finalized when split.
    await until(
      async () =>
        (await Promise.all(devnet.nodes.map(finalityOf))).every((f) => f.finalized.epoch > splitFinalized),
      8 * EPOCH_MS,
      logs,
    );
    // One head: the four nodes agree on the head root (sampled together; the newest block may
    // still be on its way to some of them, so a few tries).
    await until(
      async () => new Set((await Promise.all(devnet.nodes.map(headOf))).map((h) => h.root)).size === 1,
      4 * SLOT_SECONDS * 1000,
      logs,
    );
    const finality = await Promise.all(devnet.nodes.map(finalityOf));
    const epoch = Math.min(...finality.map((f) => f.finalized.epoch));
    expect(epoch).toBeGreaterThan(splitFinalized);
    await recorder.sample();
    expect(recorder.samples).toBeGreaterThan(50);
    expect(recorder.conflicts()).toEqual([]);
  }, 200_000);
});
