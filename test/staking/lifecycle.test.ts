/**
 * A validator's whole life on the proof-of-stake dev chain, both layers real: a deposit made
 * with an EL transaction becomes an EIP-6110 deposit request, a pending deposit, a validator and
 * then an active one; a genesis validator's voluntary exit (checked before it enters the pool)
 * ends in a full withdrawal of its stake on the EL; reward sweeps pay partial withdrawals all
 * along. Through all of it no oGPU is created: the EL's total balance only falls by the burned
 * base fees (withdrawals move oGPU out of the deposit contract and the released rewards pool).
 */
import { SecretKey } from "@chainsafe/blst";
import { FAR_FUTURE_EPOCH, SLOTS_PER_EPOCH } from "@lodestar/params";
import { computeEpochAtSlot, computeSigningRoot, interopSecretKey } from "@lodestar/state-transition";
import { type phase0, ssz } from "@lodestar/types";
import { encodeFunctionData, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_SUPPLY_WEI, ONE_OGPU } from "../../genesis/index.ts";
import type { ConsensusLayer } from "../../node/consensus/index.ts";
import { buildDepositData, executionWithdrawalCredentials } from "../../node/consensus/keys/deposit-data.ts";
import { OperationError } from "../../node/consensus/op-pools/submit.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { DEPOSIT_CONTRACT_ABI } from "../../precompiles/deposit/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const GWEI = 10n ** 9n;

interface RpcBlock {
  number: Hex;
  baseFeePerGas: Hex;
  gasUsed: Hex;
  withdrawals: { index: Hex; validatorIndex: Hex; address: Hex; amount: Hex }[];
}

describe("validator lifecycle: deposit, activation, exit, withdrawal", () => {
  let dev: DevNodeHandle;
  let cl: ConsensusLayer;
  let slot = 0;
  const newKey = SecretKey.fromKeygen(new Uint8Array(32).fill(7));
  const newPubkey = newKey.toPublicKey().toBytes();

  async function runUntil(done: () => boolean, limit: number): Promise<void> {
    const stop = slot + limit;
    while (!done()) {
      if (slot >= stop) throw new Error(`not reached within ${limit} slots (at slot ${slot})`);
      slot += 1;
      await dev.runSlot(slot);
    }
  }

  function validatorIndexOf(pubkey: Uint8Array): number | undefined {
    return cl.chain.headState.epochCtx.getValidatorIndex(pubkey) ?? undefined;
  }

  function signExit(index: number, secretKey: SecretKey, epoch: number): phase0.SignedVoluntaryExit {
    const message = { epoch, validatorIndex: index };
    const state = cl.chain.headState;
    const domain = cl.config.getDomainForVoluntaryExit(state.slot);
    const root = computeSigningRoot(ssz.phase0.VoluntaryExit, message, domain);
    return { message, signature: secretKey.sign(root).toBytes() };
  }

  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, automine: false });
    if (dev.node.consensus === undefined) throw new Error("no consensus");
    cl = dev.node.consensus;
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it("turns an EL deposit into an active validator", async () => {
    const owner = dev.accounts[5].address;
    const deposit = buildDepositData(newKey, {
      withdrawalCredentials: executionWithdrawalCredentials(owner),
      amountGwei: 32n * GWEI,
      genesisForkVersion: cl.config.GENESIS_FORK_VERSION,
      networkName: "opengpu-devnet",
    });
    const data = encodeFunctionData({
      abi: DEPOSIT_CONTRACT_ABI,
      functionName: "deposit",
      args: [
        `0x${deposit.pubkey}`,
        `0x${deposit.withdrawal_credentials}`,
        `0x${deposit.signature}`,
        `0x${deposit.deposit_data_root}`,
      ],
    });
    const hash = await dev.call<Hex>("eth_sendTransaction", [
      {
        from: owner,
        to: SYSTEM_CONTRACT_ADDRESSES.deposit,
        value: `0x${(32n * ONE_OGPU).toString(16)}`,
        data,
      },
    ]);
    await runUntil(() => cl.chain.head.slot >= 2, 4);
    const receipt = await dev.call<{ status: Hex; blockNumber: Hex }>("eth_getTransactionReceipt", [hash]);
    expect(receipt.status).toBe("0x1");

    // The request reaches the beacon state as a pending deposit, then (once finalized) a validator.
    expect(cl.chain.headState.pendingDeposits.length).toBe(1);
    await runUntil(() => validatorIndexOf(newPubkey) !== undefined, 8 * SLOTS_PER_EPOCH);
    const index = validatorIndexOf(newPubkey) as number;
    expect(index).toBe(4);
    expect(cl.chain.headState.pendingDeposits.length).toBe(0);

    // Eligible, then activated once its eligibility epoch is finalized.
    await runUntil(() => {
      const v = cl.chain.headState.validators.getReadonly(index);
      return v.activationEpoch <= computeEpochAtSlot(cl.chain.head.slot);
    }, 12 * SLOTS_PER_EPOCH);
    const v = cl.chain.headState.validators.getReadonly(index);
    expect(v.effectiveBalance).toBe(32e9);
    expect(v.exitEpoch).toBe(FAR_FUTURE_EPOCH);
  });

  it("refuses exits the head state would refuse, with the reason", () => {
    const epoch = computeEpochAtSlot(cl.chain.head.slot);
    const newIndex = validatorIndexOf(newPubkey) as number;
    // Just activated: not yet SHARD_COMMITTEE_PERIOD epochs.
    expect(() => cl.submit.voluntaryExit(signExit(newIndex, newKey, epoch))).toThrow(
      /SHARD_COMMITTEE_PERIOD/,
    );
    // Signed by another key.
    expect(() => cl.submit.voluntaryExit(signExit(3, newKey, epoch))).toThrow(/invalid signature/);
    // Not valid before its epoch.
    expect(() => cl.submit.voluntaryExit(signExit(3, interopSecretKey(3), epoch + 1))).toThrow(
      OperationError,
    );
    expect(cl.ops.counts.exits).toBe(0);
  });

  it("exits a genesis validator and pays its whole balance to its withdrawal address", async () => {
    const exitAddress = dev.accounts[3].address.toLowerCase();
    cl.submit.voluntaryExit(signExit(3, interopSecretKey(3), computeEpochAtSlot(cl.chain.head.slot)));
    expect(cl.ops.counts.exits).toBe(1);
    await runUntil(() => cl.chain.headState.validators.getReadonly(3).exitEpoch !== FAR_FUTURE_EPOCH, 4);
    const validator = cl.chain.headState.validators.getReadonly(3);
    expect(validator.withdrawableEpoch).toBe(validator.exitEpoch + 4);

    // Run until the sweep has paid the exited validator's whole balance.
    let payout: RpcBlock["withdrawals"][number] | undefined;
    const stop = slot + 16 * SLOTS_PER_EPOCH;
    while (payout === undefined || BigInt(payout.amount) < 31n * GWEI) {
      if (slot >= stop) {
        const v = cl.chain.headState.validators.getReadonly(3);
        throw new Error(
          `no full withdrawal: head ${cl.chain.head.slot} exit ${v.exitEpoch} withdrawable ${v.withdrawableEpoch} balance ${cl.chain.headState.balances.get(3)} next ${cl.chain.headState.nextWithdrawalValidatorIndex} ${JSON.stringify(payout)}`,
        );
      }
      slot += 1;
      await dev.runSlot(slot);
      const block = await dev.call<RpcBlock>("eth_getBlockByNumber", ["latest", false]);
      payout = block.withdrawals.find((x) => Number(x.validatorIndex) === 3);
    }
    expect(payout.address.toLowerCase()).toBe(exitAddress);
    // Whatever is left is what it earned since, as a member of the current sync committee.
    expect(cl.chain.headState.balances.get(3)).toBeLessThan(1e6);
    expect(cl.chain.finalizedCheckpoint.epoch).toBeGreaterThan(0);
  });

  it("pays rewards as partial withdrawals without creating oGPU", async () => {
    const latest = Number(
      BigInt((await dev.call<RpcBlock>("eth_getBlockByNumber", ["latest", false])).number),
    );
    let burned = 0n;
    let partials = 0;
    let withdrawn = 0n;
    for (let n = 1; n <= latest; n++) {
      const block = await dev.call<RpcBlock>("eth_getBlockByNumber", [`0x${n.toString(16)}`, false]);
      burned += BigInt(block.baseFeePerGas) * BigInt(block.gasUsed);
      for (const w of block.withdrawals) {
        withdrawn += BigInt(w.amount) * GWEI;
        if (BigInt(w.amount) < 31n * GWEI) partials += 1;
      }
    }
    expect(partials).toBeGreaterThan(0);
    expect(withdrawn).toBeGreaterThan(32n * ONE_OGPU);

    // Every account that ever held oGPU on this chain is in the genesis allocation.
    const genesis = dev.node.el.chain.config.genesis;
    let total = 0n;
    for (const address of Object.keys(genesis.alloc)) {
      total += BigInt(await dev.call<Hex>("eth_getBalance", [address, "latest"]));
    }
    expect(burned).toBeGreaterThan(0n);
    expect(total).toBe(MAX_SUPPLY_WEI - burned);

    // The deposit contract paid the stake; the rewards came from the released part of the pool.
    const pool = BigInt(await dev.call<Hex>("eth_getBalance", [SYSTEM_CONTRACT_ADDRESSES.rewards, "latest"]));
    expect(pool).toBeLessThanOrEqual(10_500_000n * ONE_OGPU);
  });
});
