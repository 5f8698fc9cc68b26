/**
 * Block import through the real chain: competing blocks and fork choice (with the EL head
 * following the reorg), and invalid blocks rejected with a typed reason.
 */
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO } from "@lodestar/params";
import {
  computeEpochAtSlot,
  computeSigningRoot,
  DataAvailabilityStatus,
  ExecutionPayloadStatus,
  stateTransition,
} from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlockError, BlockErrorCode } from "../../node/consensus/chain/errors.ts";
import { BlockProducer } from "../../node/consensus/chain/produce.ts";
import type { ConsensusLayer } from "../../node/consensus/index.ts";
import type { Hex } from "../../node/execution/engine/types.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

let dev: DevNodeHandle;
let cl: ConsensusLayer;

beforeEach(async () => {
  dev = await startDevNode({ consensus: true, automine: false });
  cl = dev.node.consensus as ConsensusLayer;
});
afterEach(async () => {
  await dev.stop();
});

function keyOf(index: number) {
  const state = cl.chain.headState;
  const pubkey = state.validators.getReadonly(index).pubkey;
  const key = (
    cl.validator as unknown as {
      keys: { secretKey: { sign(m: Uint8Array): { toBytes(): Uint8Array } }; pubkey: Uint8Array }[];
    }
  ).keys.find((k) => bytesToHex(k.pubkey) === bytesToHex(pubkey));
  if (key === undefined) throw new Error(`no key for validator ${index}`);
  return key.secretKey;
}

/** A signed block for `slot` on the current head, with `graffiti` to make it unique. */
async function makeBlock(slot: number, graffiti: string): Promise<electra.SignedBeaconBlock> {
  const producer = new BlockProducer({
    chain: cl.chain,
    engine: dev.node.el.engine,
    attestations: cl.attestations,
    syncCommittee: cl.syncCommittee,
    ops: cl.ops,
  });
  const state = await cl.chain.stateAtSlot(slot);
  const proposer = state.epochCtx.getBeaconProposer(slot);
  const sk = keyOf(proposer);
  const randaoReveal = sk
    .sign(computeSigningRoot(ssz.Epoch, computeEpochAtSlot(slot), cl.config.getDomain(slot, DOMAIN_RANDAO)))
    .toBytes();
  const g = new Uint8Array(32);
  g.set(new TextEncoder().encode(graffiti));
  const { block } = await producer.produce({
    slot,
    randaoReveal,
    graffiti: g,
    feeRecipient: dev.accounts[1].address as Hex,
  });
  const signature = sk
    .sign(
      computeSigningRoot(ssz.electra.BeaconBlock, block, cl.config.getDomain(slot, DOMAIN_BEACON_PROPOSER)),
    )
    .toBytes();
  return { message: block, signature };
}

/** Recomputes the state root and signature after a test changed the block's body. */
async function reseal(signed: electra.SignedBeaconBlock): Promise<electra.SignedBeaconBlock> {
  const block = signed.message;
  const pre = await cl.chain.getState(bytesToHex(block.parentRoot));
  const post = stateTransition(
    pre,
    { message: block, signature: new Uint8Array(96) },
    {
      verifyStateRoot: false,
      verifyProposer: false,
      verifySignatures: false,
      executionPayloadStatus: ExecutionPayloadStatus.valid,
      dataAvailabilityStatus: DataAvailabilityStatus.Available,
    },
  );
  block.stateRoot = post.hashTreeRoot();
  const sk = keyOf(block.proposerIndex);
  const signature = sk
    .sign(
      computeSigningRoot(
        ssz.electra.BeaconBlock,
        block,
        cl.config.getDomain(block.slot, DOMAIN_BEACON_PROPOSER),
      ),
    )
    .toBytes();
  return { message: block, signature };
}

async function expectRejected(
  block: electra.SignedBeaconBlock,
  code: string,
  message?: RegExp,
): Promise<void> {
  const err = await cl.chain.importBlock(block).catch((e: unknown) => e);
  expect(err, `expected ${code}`).toBeInstanceOf(BlockError);
  expect((err as BlockError).code).toBe(code);
  if (message !== undefined) expect((err as BlockError).message).toMatch(message);
}

describe("fork choice on competing blocks", () => {
  it("follows the heavier branch when votes arrive and moves the EL head with it", async () => {
    for (let slot = 1; slot <= 10; slot++) await dev.runSlot(slot);
    const slot = 11;
    dev.setTime((Number(BigInt(dev.node.el.chain.config.genesis.timestamp)) + slot * 2) * 1000);
    const a = await makeBlock(slot, "branch-a");
    const b = await makeBlock(slot, "branch-b");
    const rootA = await cl.chain.importBlock(a, { isTimely: false });
    const rootB = await cl.chain.importBlock(b, { isTimely: false });
    expect(rootA).not.toBe(rootB);
    // Without votes, equal weight: the higher root wins the tie.
    const tieWinner = rootA > rootB ? rootA : rootB;
    const loser = tieWinner === rootA ? rootB : rootA;
    expect(cl.chain.head.blockRoot).toBe(tieWinner);
    // Every validator now votes for the other branch (in the next slot): it becomes head.
    dev.setTime((Number(BigInt(dev.node.el.chain.config.genesis.timestamp)) + (slot + 1) * 2) * 1000);
    const loserBlock = loser === rootA ? a : b;
    const target = cl.chain.forkChoice.getBlock(loser)?.targetRoot as Hex;
    cl.chain.onAttestation([0, 1, 2, 3], {
      slot,
      beaconBlockRoot: hexToBytes(loser as Hex),
      target: { epoch: computeEpochAtSlot(slot), root: hexToBytes(target) },
    });
    await cl.chain.updateHead();
    expect(cl.chain.head.blockRoot).toBe(loser);
    expect(bytesToHex(dev.node.el.chain.head.hash())).toBe(
      bytesToHex(loserBlock.message.body.executionPayload.blockHash),
    );
  });
});

describe("invalid blocks", () => {
  beforeEach(async () => {
    for (let slot = 1; slot <= 3; slot++) await dev.runSlot(slot);
    dev.setTime((Number(BigInt(dev.node.el.chain.config.genesis.timestamp)) + 4 * 2) * 1000);
  });

  it("rejects a bad proposer signature", async () => {
    const block = await makeBlock(4, "bad-sig");
    block.signature = new Uint8Array(block.signature);
    block.signature[10] ^= 0xff;
    await expectRejected(block, BlockErrorCode.INVALID_SIGNATURE, /invalid proposer signature/);
  });

  it("rejects a well-formed signature by the wrong key (proposer, attestation, sync aggregate)", async () => {
    // Valid BLS signatures over other messages: only the batch verification can catch them.
    const other = keyOf(0).sign(new Uint8Array(32).fill(3)).toBytes();
    const wrongProposer = await makeBlock(4, "wrong-proposer-sig");
    wrongProposer.signature = other;
    await expectRejected(wrongProposer, BlockErrorCode.INVALID_SIGNATURE, /invalid proposer signature/);

    const wrongAttestation = await makeBlock(4, "wrong-attestation-sig");
    expect(wrongAttestation.message.body.attestations.length).toBeGreaterThan(0);
    wrongAttestation.message.body.attestations[0].signature = other;
    await expectRejected(
      await reseal(wrongAttestation),
      BlockErrorCode.INVALID_SIGNATURE,
      /invalid attestation 0/,
    );

    const wrongSync = await makeBlock(4, "wrong-sync-sig");
    expect(wrongSync.message.body.syncAggregate.syncCommitteeBits.getTrueBitIndexes().length).toBeGreaterThan(
      0,
    );
    wrongSync.message.body.syncAggregate.syncCommitteeSignature = other;
    await expectRejected(await reseal(wrongSync), BlockErrorCode.INVALID_SIGNATURE, /invalid sync aggregate/);
    expect(cl.chain.head.slot).toBe(3);
  });

  it("rejects a wrong state root", async () => {
    const block = await makeBlock(4, "bad-root");
    block.message.stateRoot = new Uint8Array(32).fill(7);
    await expectRejected(block, BlockErrorCode.INVALID_STATE_TRANSITION);
  });

  it("rejects a payload the execution layer finds invalid (consensus-valid block, bad execution)", async () => {
    const block = await makeBlock(4, "bad-payload");
    block.message.body.executionPayload.stateRoot = new Uint8Array(32).fill(9);
    await expectRejected(await reseal(block), BlockErrorCode.INVALID_EXECUTION_PAYLOAD);
    expect(dev.node.el.chain.head.header.number).toBe(3n);
  });

  it("rejects an unknown parent and a known block", async () => {
    const block = await makeBlock(4, "orphan");
    const orphan = structuredClone(block);
    orphan.message.parentRoot = new Uint8Array(32).fill(1);
    await expectRejected(orphan, BlockErrorCode.PARENT_UNKNOWN);
    await cl.chain.importBlock(block);
    await expectRejected(block, BlockErrorCode.ALREADY_KNOWN);
  });
});
