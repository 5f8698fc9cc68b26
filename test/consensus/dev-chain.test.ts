import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

describe("proof-of-stake dev chain", () => {
  let dev: DevNodeHandle;
  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, automine: false });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it("produces a block per slot with our validators and finalizes", async () => {
    const cl = dev.node.consensus;
    if (cl === undefined) throw new Error("no consensus");
    // Into the third sync-committee period (8 epochs of 8 slots each; the first two share the
    // genesis committee): at a period's last slot the validators sign for the next committee,
    // whose positions differ.
    for (let slot = 1; slot <= 136; slot++) await dev.runSlot(slot);
    expect(cl.chain.head.slot).toBe(136);
    expect(dev.node.el.chain.head.header.number).toBe(136n);
    const aggregate = cl.chain.getBlock(cl.chain.head.blockRoot)?.message.body.syncAggregate;
    expect(aggregate?.syncCommitteeBits.getTrueBitIndexes().length).toBe(32);
    expect(cl.chain.finalizedCheckpoint.epoch).toBeGreaterThanOrEqual(3);
    // The EL follows: finalized/safe tags resolve to the CL's checkpoint blocks.
    const finalized = await dev.call<{ number: string }>("eth_getBlockByNumber", ["finalized", false]);
    expect(Number(finalized.number)).toBeGreaterThan(0);
  });
});

describe("proof-of-stake dev chain across a restart", () => {
  it("resumes from its stored blocks and finalized state, and keeps finalizing", async () => {
    const first = await startDevNode({ consensus: true, automine: false });
    const datadir = first.datadir;
    const genesis = first.node.el.chain.config.genesis;
    for (let slot = 1; slot <= 36; slot++) await first.runSlot(slot);
    const before = first.node.consensus?.chain;
    const headBefore = before?.head.blockRoot;
    const finalizedBefore = before?.finalizedCheckpoint.epoch ?? 0;
    expect(finalizedBefore).toBeGreaterThanOrEqual(1);
    await first.stop({ keepDatadir: true });

    const second = await startDevNode({ consensus: true, automine: false, datadir, genesis, startSlot: 36 });
    try {
      const chain = second.node.consensus?.chain;
      if (chain === undefined) throw new Error("no consensus");
      expect(chain.head.blockRoot).toBe(headBefore);
      expect(chain.finalizedCheckpoint.epoch).toBe(finalizedBefore);
      // Slashing protection survived too: the restarted validators sign the next slots normally.
      for (let slot = 37; slot <= 56; slot++) await second.runSlot(slot);
      expect(chain.head.slot).toBe(56);
      expect(chain.finalizedCheckpoint.epoch).toBeGreaterThan(finalizedBefore);
      expect(second.node.el.chain.head.header.number).toBe(56n);
    } finally {
      await second.stop();
    }
  });
});
