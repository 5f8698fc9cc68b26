/**
 * The Beacon API after a restart past finality: the node resumes from the finalized checkpoint
 * state, so everything older comes from the beacon DB — the canonical slot index (blocks and
 * headers of finalized history, parent links across the anchor) and the genesis state, which
 * is kept when older checkpoint states are pruned.
 */
import { rmSync } from "node:fs";
import { bytesToHex } from "@ethereumjs/util";
import { getClient } from "@lodestar/api";
import { afterAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const SLOTS = 40;

describe("Beacon API after a restart", () => {
  let dev: DevNodeHandle | undefined;
  let datadir: string | undefined;
  afterAll(async () => {
    await dev?.stop();
    if (datadir !== undefined) rmSync(datadir, { recursive: true, force: true });
  });

  it("serves finalized history and the genesis state from the beacon DB", async () => {
    const first = await startDevNode({ consensus: true, automine: false, rest: true });
    datadir = first.datadir;
    const cl1 = first.node.consensus;
    if (cl1 === undefined) throw new Error("no consensus");
    for (let slot = 1; slot <= SLOTS; slot++) await first.runSlot(slot);
    const finalized = cl1.chain.finalizedCheckpoint;
    expect(finalized.epoch).toBeGreaterThanOrEqual(3);
    const headersBefore: string[] = [];
    for (let slot = 0; slot <= SLOTS; slot++) {
      const response = await fetch(`${first.restUrl}/eth/v1/beacon/headers/${slot}`);
      headersBefore.push(((await response.json()) as { data: { root: string } }).data.root);
    }
    const genesisStateRoot = bytesToHex(cl1.db.getMeta("genesisStateRoot") ?? new Uint8Array());
    await first.stop({ keepDatadir: true });

    dev = await startDevNode({ consensus: true, automine: false, rest: true, datadir, startSlot: SLOTS });
    const cl = dev.node.consensus;
    if (cl === undefined) throw new Error("no consensus");
    expect(cl.chain.head.slot).toBe(SLOTS);
    // The fork choice starts at the finalized checkpoint: older blocks only live in the DB.
    expect(cl.chain.forkChoice.hasBlock(headersBefore[3])).toBe(false);
    const api = getClient({ baseUrl: dev.restUrl }, { config: cl.config });

    for (let slot = 0; slot <= SLOTS; slot++) {
      const header = await api.beacon.getBlockHeader({ blockId: slot });
      expect(bytesToHex(header.value().root), `slot ${slot}`).toBe(headersBefore[slot]);
      expect(header.value().canonical).toBe(true);
      expect(header.meta().finalized).toBe(slot <= finalized.epoch * 8);
    }
    // Parent links across the anchor: the child of slot 3's block, found in the DB's slot index.
    const children = await api.beacon.getBlockHeaders({ parentRoot: headersBefore[3] });
    expect(children.value().map((h) => bytesToHex(h.root))).toEqual([headersBefore[4]]);
    const block = await api.beacon.getBlockV2({ blockId: 5 }, { responseWireFormat: "ssz" });
    expect(block.value().message.slot).toBe(5);
    expect(block.meta()).toMatchObject({ version: "electra", finalized: true });

    const genesis = await api.beacon.getStateRoot({ stateId: "genesis" });
    expect(bytesToHex(genesis.value().root)).toBe(genesisStateRoot);
    const balances = (await api.beacon.getStateValidatorBalances({ stateId: "genesis" })).value();
    expect(balances.map((b) => b.balance)).toEqual([32e9, 32e9, 32e9, 32e9]);
    const finalizedRoot = await api.beacon.getStateRoot({ stateId: "finalized" });
    expect(finalizedRoot.meta().finalized).toBe(true);
    // States of finalized history are not kept: an honest 404, not a wrong state.
    const old = await api.beacon.getStateRoot({ stateId: 3 });
    expect(old.status).toBe(404);
    expect(old.error()?.message).toContain("no historical states");

    // The chain goes on and the API follows it.
    await dev.runSlot(SLOTS + 1);
    const head = await api.beacon.getBlockHeader({ blockId: "head" });
    expect(head.value().header.message.slot).toBe(SLOTS + 1);
    expect(bytesToHex(head.value().header.message.parentRoot)).toBe(headersBefore[SLOTS]);
  });
});
