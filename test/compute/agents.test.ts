/**
 * Provider agents on a proof-of-stake dev node, with real ONNX models (generated in code) run by
 * onnxruntime-node: they bid, execute, publish outputs, verify as a committee, aggregate BLS
 * attestations and settle, with nothing from the test but the client's transactions and the
 * slot clock. Faulty agents: one perturbs its outputs (slashed, task reassigned), one never
 * answers (slashed after the deadline, reassigned), one attests without re-executing (slashed
 * for voting against the quorum); a task whose input does not fit its model slashes the client.
 */
import { type Abi, type Hex, hexToBytes, parseEventLogs } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_SUPPLY_WEI } from "../../genesis/index.ts";
import type { ProviderAgent } from "../../node/compute-layer/agent/provider-agent.ts";
import {
  type GeneratedModel,
  mlpModel,
  seededInputs,
  transformerModel,
} from "../../node/compute-layer/models/generate.ts";
import { onChainTensorSpec } from "../../node/compute-layer/onchain.ts";
import { encodeCanonical, sha256Hex, tensorFromValues } from "../../node/compute-layer/runtime/tensor.ts";
import type { FileBlobStore } from "../../node/p2p/reqresp/blob-store.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { MODEL_REGISTRY_ABI } from "../../precompiles/model-registry/index.ts";
import { COMPUTE_PARAMS, SLASH_SPLITS } from "../../precompiles/params.ts";
import { PROVIDER_REGISTRY_ABI } from "../../precompiles/provider-registry/index.ts";
import { TASK_MARKET_ABI, TaskState, Verdict } from "../../precompiles/task-market/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";
import { Market, OGPU } from "./market.ts";

const CLIENT = 11;
const STAKE = 1000n * OGPU;
const POLICY = { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 };
const bps = (x: bigint, b: number) => (x * BigInt(b)) / 10_000n;

describe("provider agents", () => {
  let dev: DevNodeHandle;
  let m: Market;
  const agents: Record<string, ProviderAgent> = {};
  /** Starts agent `name` (again) with its options. */
  const restart: Record<string, () => Promise<void>> = {};
  const mlp = mlpModel();
  const transformer = transformerModel();
  const third = mlpModel({ seed: 99 });

  /** Runs slots (agents act between them) until `done` or `limit` slots. */
  async function runUntil(done: () => Promise<boolean>, limit = 60): Promise<void> {
    for (let i = 0; i < limit; i++) {
      if (await done()) return;
      await m.nextSlot();
      await dev.node.compute.idle();
    }
    throw new Error(`not done within ${limit} slots`);
  }

  /** Gas `address` paid in blocks (from, to] (block numbers from eth_blockNumber: viem caches its own). */
  async function gasPaid(address: Hex, from: bigint, to: bigint): Promise<bigint> {
    let total = 0n;
    for (let n = from + 1n; n <= to; n++) {
      const receipts = await dev.call<{ from: Hex; gasUsed: Hex; effectiveGasPrice: Hex }[]>(
        "eth_getBlockReceipts",
        [`0x${n.toString(16)}`],
      );
      for (const r of receipts)
        if (r.from.toLowerCase() === address.toLowerCase())
          total += BigInt(r.gasUsed) * BigInt(r.effectiveGasPrice);
    }
    return total;
  }

  async function register(model: GeneratedModel): Promise<void> {
    await dev.node.compute.blobs.put(model.bytes);
    await m.send(
      CLIENT,
      MODEL_REGISTRY_ABI as Abi,
      SYSTEM_CONTRACT_ADDRESSES.modelRegistry,
      "registerModel",
      [
        model.sha256,
        BigInt(model.bytes.length),
        model.name,
        model.inputs.map(onChainTensorSpec),
        model.outputs.map(onChainTensorSpec),
        POLICY,
      ],
    );
  }

  async function submit(
    model: GeneratedModel,
    input: Uint8Array,
    committeeSize: number,
    deposit = 20n * OGPU,
    biddingWindow = 4n,
  ) {
    const head = await m.c.public.getBlock();
    const [r] = await m.sendAll([
      m.market(
        CLIENT,
        "submitTask",
        [
          {
            model: model.sha256,
            inputHash: sha256Hex(input),
            input: `0x${Buffer.from(input).toString("hex")}`,
            maxPrice: 10n * OGPU,
            biddingWindow,
            executionTimeout: 12n,
            deadline: head.timestamp + 600n,
            committeeSize,
            policy: POLICY,
            payment: { kind: 0, verificationFee: 1n * OGPU },
          },
        ],
        deposit,
      ),
    ]);
    expect(r.status).toBe("success");
    await dev.node.compute.idle();
    return parseEventLogs({ abi: TASK_MARKET_ABI, logs: r.logs, eventName: "TaskSubmitted" })[0].args.taskId;
  }

  const stakeOf = async (a: ProviderAgent) =>
    (
      await m.c.public.readContract({
        address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
        abi: PROVIDER_REGISTRY_ABI,
        functionName: "getProvider",
        args: [a.address],
      })
    ).stake;

  beforeAll(async () => {
    dev = await startDevNode({
      consensus: true,
      accounts: 12,
      ...(process.env.OPENGPU_TEST_LOG === "1" ? { logLevel: "info" as const } : {}),
    });
    m = new Market(dev);
    const key = (i: number) => new Uint8Array(32).fill(i + 50);
    const start = (name: string, account: number, price: bigint, extra: object = {}) => {
      restart[name] = () =>
        dev.node.compute
          .startProvider({
            privateKey: dev.accounts[account].privateKey,
            blsSecretKey: key(account),
            price,
            stake: STAKE,
            ...extra,
          })
          .then((a) => {
            agents[name] = a;
          });
      return restart[name]();
    };
    // Prices decide who wins: the faulty agents bid lowest on the models they serve.
    await start("honest", 4, 2n * OGPU);
    await start("honest2", 5, 3n * OGPU);
    await start("honest3", 6, 4n * OGPU);
    await start("lazy", 7, 5n * OGPU, { behaviour: "lazy" });
    await start("perturb", 8, 1n * OGPU, { behaviour: "perturb", models: [transformer.sha256] });
    await start("silent", 9, OGPU / 2n, { behaviour: "silent", models: [third.sha256] });
    // The agents register themselves.
    await runUntil(
      async () =>
        (await m.c.public.readContract({
          address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
          abi: PROVIDER_REGISTRY_ABI,
          functionName: "providerCount",
        })) === 6n,
      5,
    );
    await register(mlp);
    await register(transformer);
    await register(third);
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
  });

  it("executes, verifies and settles an honest task, paying each party exactly", async () => {
    const startBlock = BigInt(await dev.call<Hex>("eth_blockNumber"));
    const before = new Map<string, bigint>();
    for (const [name, a] of Object.entries(agents)) before.set(name, await m.balance(a.address));
    const clientBefore = await m.balance(CLIENT);
    const clientFees = m.feeOf(CLIENT);
    const input = encodeCanonical(seededInputs(mlp.inputs, 1));
    const id = await submit(mlp, input, 3);
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled);
    const task = await m.task(id);
    expect(task.provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
    expect(task.verdict).toBe(Verdict.Accept);
    expect(task.committee).toHaveLength(3);
    // The output the committee accepted is the real model's output, stored by content hash.
    const output = await dev.node.compute.blobs.get(task.outputCommitment.toLowerCase() as Hex);
    expect(sha256Hex(output)).toBe(task.outputCommitment.toLowerCase());
    const expected = await dev.node.compute.runner.run(
      { sha256: mlp.sha256, bytes: mlp.bytes },
      seededInputs(mlp.inputs, 1),
    );
    expect(task.outputCommitment.toLowerCase()).toBe(expected.commitment);
    // The agents' metrics: one execution committed, three accepting verifications, one settle.
    const registry = dev.node.metrics.registry;
    const metric = async (name: string) => (await registry.getSingleMetricAsString(name)).split("\n");
    expect(await metric("opengpu_compute_task_executions_total")).toContain(
      'opengpu_compute_task_executions_total{outcome="committed"} 1',
    );
    expect(await metric("opengpu_compute_verifications_total")).toContain(
      'opengpu_compute_verifications_total{verdict="accept"} 3',
    );
    expect(await metric("opengpu_compute_settlements_sent_total")).toContain(
      'opengpu_compute_settlements_sent_total{verdict="accept"} 1',
    );
    const jobs = await metric("opengpu_compute_job_seconds");
    for (const [kind, count] of [
      ["execute", 1],
      ["verify", 3],
      ["settle", 1],
    ])
      expect(jobs).toContain(`opengpu_compute_job_seconds_count{kind="${kind}"} ${count}`);
    expect((await metric("opengpu_compute_job_stage_seconds")).join("\n")).toMatch(
      /opengpu_compute_job_stage_seconds_count\{kind="verify",stage="attest"\} 3/,
    );

    const endBlock = BigInt(await dev.call<Hex>("eth_blockNumber"));
    const fee = 1n * OGPU;
    for (const [name, a] of Object.entries(agents)) {
      const paid =
        (await m.balance(a.address)) -
        (before.get(name) ?? 0n) +
        (await gasPaid(a.address, startBlock, endBlock));
      const onCommittee = task.committee.some((c) => c.toLowerCase() === a.address.toLowerCase());
      const want = (name === "honest" ? task.price : 0n) + (onCommittee ? fee / 3n : 0n);
      expect(paid, name).toBe(want);
    }
    // The fee splits equally among the 3 members; the indivisible wei goes back to the client.
    expect((await m.balance(CLIENT)) - clientBefore + (m.feeOf(CLIENT) - clientFees)).toBe(
      -(task.price + (fee / 3n) * 3n),
    );
  }, 120_000);

  it("slashes a provider whose output is perturbed, slashes the lazy member, and completes with the next bidder", async () => {
    const perturbStake = await stakeOf(agents.perturb);
    const lazyStake = await stakeOf(agents.lazy);
    const input = encodeCanonical(seededInputs(transformer.inputs, 2, 4));
    // Every eligible provider sits on the committee, the lazy one included.
    const id = await submit(transformer, input, 5);
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled, 90);
    const logs = await m.c.public.getContractEvents({
      address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      abi: TASK_MARKET_ABI,
      eventName: "TaskSettled",
      args: { taskId: id },
      fromBlock: 0n,
    });
    expect(logs.map((l) => l.args.verdict)).toEqual([Verdict.Reject, Verdict.Accept]);
    const task = await m.task(id);
    expect(task.round).toBe(2);
    expect(task.provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
    expect(await stakeOf(agents.perturb)).toBe(
      perturbStake - bps(perturbStake, COMPUTE_PARAMS.rejectSlashBps),
    );
    expect(await stakeOf(agents.lazy)).toBe(lazyStake - bps(lazyStake, COMPUTE_PARAMS.dissentSlashBps));
  }, 180_000);

  it("slashes a provider that never answers and reassigns the task", async () => {
    const silentStake = await stakeOf(agents.silent);
    const input = encodeCanonical(seededInputs(third.inputs, 3));
    const id = await submit(third, input, 2);
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled, 90);
    const task = await m.task(id);
    expect(task.round).toBe(2);
    expect(task.provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
    expect(await stakeOf(agents.silent)).toBe(silentStake - bps(silentStake, COMPUTE_PARAMS.missSlashBps));
  }, 180_000);

  it("sends an action again when the pool drops its transaction", async () => {
    const input = encodeCanonical(seededInputs(mlp.inputs, 11));
    // A bidding window of 4 slots: bids can land in three blocks.
    const id = await submit(mlp, input, 3, 20n * OGPU, 8n);
    // The agents sent their sealed bids into the pool: drop the cheapest provider's.
    const pool = dev.node.el.pool;
    const mine = pool
      .pendingTransactions()
      .filter((p) => p.sender.toString() === agents.honest.address.toLowerCase());
    expect(mine.length).toBeGreaterThan(0);
    await pool.drop(mine.map((p) => p.hashHex));
    expect(pool.get(mine[0].hashHex)).toBeUndefined();
    // Its next pass (on the next head) sees the bid gone and sends it again: it still wins.
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled);
    expect((await m.task(id)).provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
  }, 120_000);

  it("reveals a sealed bid it committed before a restart", async () => {
    const input = encodeCanonical(seededInputs(mlp.inputs, 12));
    const id = await submit(mlp, input, 3, 20n * OGPU, 8n);
    // The bids are in a block; the cheapest provider restarts before the reveal phase.
    await m.nextSlot();
    await dev.node.compute.idle();
    const bids = await m.c.public.readContract({
      address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      abi: TASK_MARKET_ABI,
      functionName: "getBids",
      args: [id],
    });
    expect(bids.some((b) => b.provider.toLowerCase() === agents.honest.address.toLowerCase())).toBe(true);
    await agents.honest.stop();
    await restart.honest();
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled);
    expect((await m.task(id)).provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
  }, 120_000);

  it("computes its committed output again when a crash lost it, and is paid", async () => {
    const input = encodeCanonical(seededInputs(mlp.inputs, 13));
    const id = await submit(mlp, input, 3);
    await runUntil(async () => (await m.task(id)).state === TaskState.Executed);
    const committed = await m.task(id);
    expect(committed.provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
    // The executor's machine crashes before its output reached the disk: its segment record is
    // there with the right size but none of the bytes (outputs are not flushed), and nothing is
    // in memory.
    const commitment = committed.outputCommitment.toLowerCase() as Hex;
    const blobs = dev.node.compute.blobs;
    const files = blobs.store as FileBlobStore;
    const size = (await blobs.get(commitment)).length;
    await agents.honest.stop();
    await blobs.remove(commitment);
    const torn = files.reserveSegment(commitment.slice(2), size);
    await files.writeSegmentRecord(torn, new Uint8Array(size));
    files.commitSegment(torn);
    expect(sha256Hex((await files.get(hexToBytes(commitment)))!)).not.toBe(commitment);
    await restart.honest();
    // Its first pass finds the copy corrupt, runs the task again and stores the same bytes.
    await dev.node.compute.idle();
    expect(sha256Hex((await files.get(hexToBytes(commitment)))!)).toBe(commitment);
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled);
    const task = await m.task(id);
    expect(task.verdict).toBe(Verdict.Accept);
    expect(task.provider.toLowerCase()).toBe(agents.honest.address.toLowerCase());
  }, 120_000);

  it("slashes the client's deposit when its input does not fit the model", async () => {
    const clientBefore = await m.balance(CLIENT);
    const clientFees = m.feeOf(CLIENT);
    const deposit = 20n * OGPU;
    // The MLP takes x: [batch, 16]; this input has 7 features.
    const bad = encodeCanonical([tensorFromValues("x", "float32", [1, 7], new Float32Array(7))]);
    const id = await submit(mlp, bad, 2, deposit);
    await runUntil(async () => (await m.task(id)).state === TaskState.Failed, 60);
    const task = await m.task(id);
    expect(task.verdict).toBe(Verdict.InvalidTask);
    const slashed = bps(deposit, COMPUTE_PARAMS.invalidTaskSlashBps);
    expect((await m.balance(CLIENT)) - clientBefore + (m.feeOf(CLIENT) - clientFees)).toBe(-slashed);
    expect(SLASH_SPLITS.invalidTask.provider).toBeGreaterThan(0);
  }, 120_000);
  it("pays the validator bonus to a provider that proves its key is a validator's", async () => {
    // Validator 0's interop key, reused as a provider's BLS key (as SPEC.md allows).
    const { interopSecretKey } = await import("@lodestar/state-transition");
    const validator = await dev.node.compute.startProvider({
      privateKey: dev.accounts[10].privateKey,
      blsSecretKey: interopSecretKey(0).toBytes(),
      price: (3n * OGPU) / 2n,
      stake: STAKE,
      models: [mlp.sha256],
    });
    const proven = async () =>
      (
        await m.c.public.readContract({
          address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
          abi: PROVIDER_REGISTRY_ABI,
          functionName: "validatorOf",
          args: [validator.address],
        })
      )[1] !== 0n;
    await runUntil(proven, 10);
    const rewards = SYSTEM_CONTRACT_ADDRESSES.rewards;
    const input = encodeCanonical(seededInputs(mlp.inputs, 13));
    const id = await submit(mlp, input, 3);
    await runUntil(async () => (await m.task(id)).state === TaskState.Settled);
    const task = await m.task(id);
    expect(task.provider.toLowerCase()).toBe(validator.address.toLowerCase());
    const [bonus] = await m.c.public.getContractEvents({
      address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      abi: TASK_MARKET_ABI,
      eventName: "ValidatorBonusPaid",
      args: { taskId: id },
      fromBlock: 0n,
    });
    expect(bonus.args.amount).toBe(bps(task.price, COMPUTE_PARAMS.validatorBonusBps));
    expect(bonus.args.provider?.toLowerCase()).toBe(validator.address.toLowerCase());
    // Out of the rewards pool (whose balance only the bonus and withdrawal sweeps move).
    expect(await m.balance(rewards)).toBeGreaterThan(0n);
  }, 180_000);
  it("creates no oGPU: all balances add up to 21M minus burned fees and burned slashes", async () => {
    const latest = BigInt(await dev.call<Hex>("eth_blockNumber"));
    let burnedFees = 0n;
    for (let n = 1n; n <= latest; n++) {
      const block = await dev.call<{ baseFeePerGas: Hex; gasUsed: Hex }>("eth_getBlockByNumber", [
        `0x${n.toString(16)}`,
        false,
      ]);
      burnedFees += BigInt(block.baseFeePerGas) * BigInt(block.gasUsed);
    }
    const burnedSlashes = (
      await m.c.public.getContractEvents({
        address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
        abi: TASK_MARKET_ABI,
        eventName: "Burned",
        fromBlock: 0n,
      })
    ).reduce((sum, e) => sum + (e.args.amount ?? 0n), 0n);
    expect(burnedSlashes).toBeGreaterThan(0n);
    // Every account that ever held oGPU on this chain is in the genesis allocation.
    let total = 0n;
    for (const address of Object.keys(dev.node.el.chain.config.genesis.alloc))
      total += BigInt(await dev.call<Hex>("eth_getBalance", [address, "latest"]));
    expect(total).toBe(MAX_SUPPLY_WEI - burnedFees - burnedSlashes);
  }, 60_000);
});
