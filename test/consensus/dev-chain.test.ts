import { fastAggregateVerify, Signature, verify } from "@chainsafe/blst";
import { DOMAIN_AGGREGATE_AND_PROOF, DOMAIN_BEACON_ATTESTER, DOMAIN_SELECTION_PROOF } from "@lodestar/params";
import { computeSigningRoot } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
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
    // Aggregation duty: the slot's attesters that select themselves sign their committee's
    // aggregate; the selection proof, the aggregate and the wrapper all verify.
    let slot = 137;
    let aggregates: electra.SignedAggregateAndProof[] = [];
    for (; aggregates.length === 0 && slot < 145; slot++) {
      await dev.runSlot(slot);
      aggregates = cl.validator.aggregate(slot);
    }
    expect(aggregates.length).toBeGreaterThan(0);
    const state = cl.chain.headState;
    const pubkey = (i: number) => state.epochCtx.pubkeyCache.getOrThrow(i);
    for (const { message, signature } of aggregates) {
      const at = message.aggregate.data.slot;
      const selection = computeSigningRoot(ssz.Slot, at, cl.config.getDomain(at, DOMAIN_SELECTION_PROOF));
      expect(
        verify(selection, pubkey(message.aggregatorIndex), Signature.fromBytes(message.selectionProof)),
      ).toBe(true);
      const wrapper = computeSigningRoot(
        ssz.electra.AggregateAndProof,
        message,
        cl.config.getDomain(at, DOMAIN_AGGREGATE_AND_PROOF),
      );
      expect(verify(wrapper, pubkey(message.aggregatorIndex), Signature.fromBytes(signature))).toBe(true);
      const committeeIndex = message.aggregate.committeeBits.getTrueBitIndexes()[0];
      const committee = state.epochCtx.getBeaconCommittee(at, committeeIndex);
      const signers = message.aggregate.aggregationBits.intersectValues(committee);
      expect(signers).toContain(message.aggregatorIndex);
      const data = computeSigningRoot(
        ssz.phase0.AttestationData,
        message.aggregate.data,
        cl.config.getDomain(at, DOMAIN_BEACON_ATTESTER),
      );
      expect(
        fastAggregateVerify(data, signers.map(pubkey), Signature.fromBytes(message.aggregate.signature)),
      ).toBe(true);
    }

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
