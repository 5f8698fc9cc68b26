/**
 * Slashing end to end: a double vote and a double proposal are detected by the slasher,
 * included as slashings by our own proposer, and the offenders end up slashed; and slashing
 * protection refuses a conflicting signature after a restart.
 */
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { DOMAIN_BEACON_ATTESTER, DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO } from "@lodestar/params";
import { computeEpochAtSlot, computeSigningRoot } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { afterEach, describe, expect, it } from "vitest";
import { BlockProducer } from "../../node/consensus/chain/produce.ts";
import type { ConsensusLayer } from "../../node/consensus/index.ts";
import { SlashingProtectionError } from "../../node/consensus/slashing-protection/index.ts";
import type { Hex } from "../../node/execution/engine/types.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

let dev: DevNodeHandle | undefined;
afterEach(async () => {
  await dev?.stop();
  dev = undefined;
});

function secretKeyOf(cl: ConsensusLayer, index: number) {
  const pubkey = bytesToHex(cl.chain.headState.validators.getReadonly(index).pubkey);
  const keys = (
    cl.validator as unknown as {
      keys: { secretKey: { sign(m: Uint8Array): { toBytes(): Uint8Array } }; pubkey: Uint8Array }[];
    }
  ).keys;
  const key = keys.find((k) => bytesToHex(k.pubkey) === pubkey);
  if (key === undefined) throw new Error(`no key for ${index}`);
  return key.secretKey;
}

describe("slashing", () => {
  it("detects a double vote, includes the slashing and slashes the validator", async () => {
    dev = await startDevNode({ consensus: true, automine: false });
    const cl = dev.node.consensus as ConsensusLayer;
    for (let slot = 1; slot <= 11; slot++) await dev.runSlot(slot);
    // Find a validator that attested at slot 11 (its honest vote goes into block 12).
    const state = await cl.chain.stateAtSlot(11);
    const epoch = computeEpochAtSlot(11);
    let offender: { index: number; committeeIndex: number } | undefined;
    for (let c = 0; c < state.epochCtx.getCommitteeCountPerSlot(epoch) && offender === undefined; c++) {
      const committee = state.epochCtx.getBeaconCommittee(11, c);
      if (committee.length > 0) offender = { index: committee[0], committeeIndex: c };
    }
    if (offender === undefined) {
      // No committee at slot 11 with 4 validators: use slot 10's instead.
      throw new Error("test needs an attester at slot 11");
    }
    await dev.runSlot(12);
    expect(cl.slasher.detected.attester).toBe(0);
    // The offender signs a second, different vote for the same target.
    const honestHead = cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, 11) as string;
    const otherRoot = cl.chain.forkChoice.getBlock(honestHead)?.parentRoot as string;
    const data = {
      slot: 11,
      index: 0,
      beaconBlockRoot: hexToBytes(otherRoot as Hex),
      source: state.currentJustifiedCheckpoint.toValue(),
      target: { epoch, root: hexToBytes(cl.chain.forkChoice.getBlock(honestHead)?.targetRoot as Hex) },
    };
    const sk = secretKeyOf(cl, offender.index);
    const signature = sk
      .sign(
        computeSigningRoot(ssz.phase0.AttestationData, data, cl.config.getDomain(11, DOMAIN_BEACON_ATTESTER)),
      )
      .toBytes();
    const verdict = await cl.onGossipAttestation({
      committeeIndex: offender.committeeIndex,
      attesterIndex: offender.index,
      data,
      signature,
    });
    expect(verdict).toBe("ACCEPT");
    expect(cl.slasher.detected.attester).toBe(1);
    expect(cl.ops.counts.attesterSlashings).toBe(1);
    // Our proposer includes it; the validator is slashed.
    await dev.runSlot(13);
    const head = cl.chain.getBlock(cl.chain.head.blockRoot) as electra.SignedBeaconBlock;
    expect(head.message.body.attesterSlashings.length).toBe(1);
    expect(cl.chain.headState.validators.getReadonly(offender.index).slashed).toBe(true);
    // A forged signature (a validator that has not voted through gossip yet) is rejected outright.
    const state12 = await cl.chain.stateAtSlot(13);
    const member =
      state12.epochCtx.getBeaconCommittee(12, 0)[0] ?? state12.epochCtx.getBeaconCommittee(13, 0)[0];
    const forgedSlot = state12.epochCtx.getBeaconCommittee(12, 0).length > 0 ? 12 : 13;
    const forged = await cl.onGossipAttestation({
      committeeIndex: 0,
      attesterIndex: member,
      data: { ...data, slot: forgedSlot, beaconBlockRoot: hexToBytes(cl.chain.head.blockRoot as Hex) },
      signature,
    });
    expect(forged).toBe("REJECT");
  });

  it("detects a double proposal and slashes the proposer", async () => {
    dev = await startDevNode({ consensus: true, automine: false });
    const cl = dev.node.consensus as ConsensusLayer;
    for (let slot = 1; slot <= 5; slot++) await dev.runSlot(slot);
    const slot = 6;
    dev.setTime((Number(BigInt(dev.node.el.chain.config.genesis.timestamp)) + slot * 2) * 1000);
    const producer = new BlockProducer({
      chain: cl.chain,
      engine: dev.node.el.engine,
      attestations: cl.attestations,
      syncCommittee: cl.syncCommittee,
      ops: cl.ops,
    });
    const proposer = (await cl.chain.stateAtSlot(slot)).epochCtx.getBeaconProposer(slot);
    const sk = secretKeyOf(cl, proposer);
    const make = async (graffiti: string) => {
      const randaoReveal = sk
        .sign(
          computeSigningRoot(ssz.Epoch, computeEpochAtSlot(slot), cl.config.getDomain(slot, DOMAIN_RANDAO)),
        )
        .toBytes();
      const g = new Uint8Array(32);
      g.set(new TextEncoder().encode(graffiti));
      const { block } = await producer.produce({
        slot,
        randaoReveal,
        graffiti: g,
        feeRecipient: dev?.accounts[0].address as Hex,
      });
      const signature = sk
        .sign(
          computeSigningRoot(
            ssz.electra.BeaconBlock,
            block,
            cl.config.getDomain(slot, DOMAIN_BEACON_PROPOSER),
          ),
        )
        .toBytes();
      return { message: block, signature };
    };
    const a = await make("one");
    const b = await make("two");
    await cl.chain.importBlock(a);
    await cl.chain.importBlock(b);
    expect(cl.slasher.detected.proposer).toBe(1);
    for (let s = 7; s <= 9; s++) await dev.runSlot(s);
    expect(cl.chain.headState.validators.getReadonly(proposer).slashed).toBe(true);
  });

  it("refuses to sign a conflicting attestation after a restart", async () => {
    dev = await startDevNode({ consensus: true, automine: false });
    for (let slot = 1; slot <= 9; slot++) await dev.runSlot(slot);
    const { datadir } = dev;
    const genesis = dev.node.el.chain.config.genesis;
    const cl = dev.node.consensus as ConsensusLayer;
    const pubkey = cl.chain.headState.validators.getReadonly(0).pubkey;
    await dev.stop({ keepDatadir: true });
    dev = await startDevNode({ consensus: true, automine: false, datadir, genesis, startSlot: 9 });
    const restarted = dev.node.consensus as ConsensusLayer;
    // Every validator attested once in epoch 0 (slots 0-7) and once in epoch 1 by slot 9 or not yet:
    // a vote for target epoch 0 with a different root is a double vote either way.
    const conflicting = { sourceEpoch: 0, targetEpoch: 0, signingRoot: new Uint8Array(32).fill(0xab) };
    const err = await restarted.protection
      .checkAndInsertAttestation(pubkey, conflicting)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlashingProtectionError);
  });
});
