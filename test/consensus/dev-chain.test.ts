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
    for (let slot = 1; slot <= 40; slot++) await dev.runSlot(slot);
    expect(cl.chain.head.slot).toBe(40);
    expect(dev.node.el.chain.head.header.number).toBe(40n);
    expect(cl.chain.finalizedCheckpoint.epoch).toBeGreaterThanOrEqual(3);
    // The EL follows: finalized/safe tags resolve to the CL's checkpoint blocks.
    const finalized = await dev.call<{ number: string }>("eth_getBlockByNumber", ["finalized", false]);
    expect(Number(finalized.number)).toBeGreaterThan(0);
  });
});
