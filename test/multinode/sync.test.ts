/**
 * Sync on a 4-node devnet: a node started long after genesis syncs to the others' head over
 * req/resp and then follows gossip; a node killed with SIGKILL and restarted catches up from
 * where its datadir left off.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, type DevnetNode, startDevnet } from "../../scripts/devnet.ts";
import { beacon, until } from "./util.ts";

let dir: string;
let devnet: Devnet;

const headOf = async (n: DevnetNode) =>
  (
    await beacon<{ data: { root: string; header: { message: { slot: string } } } }>(
      n.rest,
      "/eth/v1/beacon/headers/head",
    )
  ).data;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-sync-test-"));
  // Node 3 (validators 12-15) starts later; the other 75% of the stake keeps finalizing.
  devnet = await startDevnet({
    nodes: 4,
    validators: 16,
    dir,
    slotSeconds: 2,
    genesisDelay: 8,
    logLevel: "info",
    deferred: [3],
  });
}, 120_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("sync", () => {
  it("a node started late syncs from genesis to the head, then follows", async () => {
    const [first] = devnet.nodes;
    await until(
      async () => Number((await headOf(first)).header.message.slot) >= 20,
      90_000,
      () => devnet.output(0),
    );
    const late = await devnet.startNode(3);
    // Caught up: its head is the others' head (or one slot behind while a block propagates).
    await until(
      async () => {
        const [a, b] = await Promise.all([headOf(first), headOf(late)]);
        return Number(b.header.message.slot) >= Number(a.header.message.slot) - 1;
      },
      60_000,
      () => devnet.output(3),
    );
    expect(devnet.output(3)).toMatch(/"msg":"Imported block"/);
    // Following: a few slots later it still has the same head as the others.
    const from = Number((await headOf(late)).header.message.slot);
    await until(
      async () => Number((await headOf(late)).header.message.slot) >= from + 3,
      30_000,
      () => devnet.output(3),
    );
    await until(
      async () => (await headOf(first)).root === (await headOf(late)).root,
      20_000,
      () => devnet.output(3),
    );
  }, 240_000);

  it("a node killed with SIGKILL and restarted catches up", async () => {
    const victim = devnet.nodes[2];
    const signal = await devnet.stopNode(2, { kill: true });
    expect(signal).toBe("SIGKILL");
    const [first] = devnet.nodes;
    const at = Number((await headOf(first)).header.message.slot);
    // The others go on without it (12 of 16 validators) for a few slots.
    await until(
      async () => Number((await headOf(first)).header.message.slot) >= at + 6,
      60_000,
      () => devnet.output(0),
    );
    const restarted = await devnet.startNode(2);
    expect(restarted.index).toBe(victim.index);
    await until(
      async () => (await headOf(first)).root === (await headOf(restarted)).root,
      60_000,
      () => devnet.output(2),
    );
    const finality = (n: DevnetNode) =>
      beacon<{ data: { finalized: { epoch: string; root: string } } }>(
        n.rest,
        "/eth/v1/beacon/states/head/finality_checkpoints",
      );
    const [a, b] = await Promise.all([finality(first), finality(restarted)]);
    expect(b.data.finalized).toEqual(a.data.finalized);
  }, 240_000);
});
