/**
 * The task market's whole protocol on a proof-of-stake dev node (real blocks, prevRandao,
 * BLS keys), driven through the contracts' ABIs: an honest task paid to the wei, a rejected
 * result slashed and reassigned, a missed deadline, an invalid task, a lazy committee member,
 * refused bids, cancellation. Committee members' attestations are real BLS signatures,
 * aggregated as the committee does; ONNX execution is not part of this file (the outputs are
 * commitments chosen by the test).
 */
import { SecretKey } from "@chainsafe/blst";
import { buildBlock } from "@ethereumjs/vm";
import {
  type Abi,
  encodeFunctionData,
  type Hex,
  hexToBytes,
  keccak256,
  parseEventLogs,
  type TransactionReceipt,
  toHex,
} from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { COMPUTE_PARAMS, SLASH_SPLITS } from "../../precompiles/params.ts";
import { PROVIDER_REGISTRY_ABI } from "../../precompiles/provider-registry/index.ts";
import { NO_OUTPUT, TASK_MARKET_ABI, TaskState, Verdict } from "../../precompiles/task-market/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";
import { Market, OGPU, type Provider } from "./market.ts";

const MODEL = `0x${"11".repeat(32)}` as Hex;
const INPUT = `0x${"22".repeat(32)}` as Hex;
const GOOD = keccak256(toHex("good output"));
const BAD = keccak256(toHex("perturbed output"));
const ENV = keccak256(toHex("onnxruntime-node@1.30.0/cpu"));
// Accounts 0-3 receive the dev validators' withdrawals (reward sweeps): the test's actors are
// accounts 4 and up, so their balances change only by what the market pays and their gas.
const PROVIDER_ACCOUNTS = [4, 5, 6, 7, 8];
const CLIENT = 9;
const KEEPER = 10;
const STRANGER = 11;
const STAKE = 1000n * OGPU;
const bps = (x: bigint, b: number) => (x * BigInt(b)) / 10_000n;

describe("task market", () => {
  let dev: DevNodeHandle;
  let m: Market;
  let providers: Provider[];
  /** Gas paid per account since the last reset. */
  const fees = new Map<string, bigint>();
  const track = (receipts: TransactionReceipt[]) => {
    for (const r of receipts)
      fees.set(r.from.toLowerCase(), (fees.get(r.from.toLowerCase()) ?? 0n) + Market.fee(r));
    return receipts;
  };
  /**
   * Balance changes of accounts from now on, net of the gas they pay: `delta(a)` is exactly what
   * the contracts paid `a` (positive) or took from it (negative).
   */
  async function watch(accounts: number[]) {
    const before = new Map<number, { balance: bigint; fee: bigint }>();
    for (const a of accounts) before.set(a, { balance: await m.balance(a), fee: m.feeOf(a) });
    return async (a: number) => {
      const b = before.get(a);
      if (b === undefined) throw new Error(`account ${a} not watched`);
      return (await m.balance(a)) - b.balance + (m.feeOf(a) - b.fee);
    };
  }
  const p = (i: number) => providers[i - 1];

  async function submit(
    over: { maxPrice?: bigint; fee?: bigint; deposit?: bigint; committeeSize?: number } = {},
  ) {
    const head = await m.c.public.getBlock();
    const maxPrice = over.maxPrice ?? 5n * OGPU;
    const fee = over.fee ?? 3n * 10n ** 17n;
    const request = {
      model: MODEL,
      inputHash: INPUT,
      input: "0x" as Hex,
      maxPrice,
      biddingWindow: 4n,
      executionTimeout: 20n,
      deadline: head.timestamp + 400n,
      committeeSize: over.committeeSize ?? 3,
      policy: { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 },
      payment: { kind: 0, verificationFee: fee },
    };
    const [r] = track(
      await m.sendAll([m.market(CLIENT, "submitTask", [request], over.deposit ?? 6n * OGPU)]),
    );
    expect(r.status).toBe("success");
    const [event] = parseEventLogs({ abi: TASK_MARKET_ABI, logs: r.logs, eventName: "TaskSubmitted" });
    return event.args.taskId;
  }

  /** Bids, reveals and closes the auction; returns the task. */
  async function auction(id: bigint, bids: { p: Provider; price: bigint }[]) {
    const salts = await m.commitBids(id, bids);
    const task = await m.task(id);
    await m.until(task.commitEnd);
    await m.revealBids(id, bids, salts);
    await m.until(task.revealEnd);
    track(await m.sendAll([m.market(KEEPER, "closeAuction", [id])]));
    return m.task(id);
  }

  async function execute(id: bigint, output: Hex) {
    const task = await m.task(id);
    const winner = providers.find((x) => x.address.toLowerCase() === task.provider.toLowerCase());
    if (winner === undefined) throw new Error("winner is not a test provider");
    const [r] = track(await m.sendAll([m.market(winner.account, "commitResult", [id, output, ENV])]));
    expect(r.status).toBe("success");
    // The committee comes from a later block's randomness than the result's.
    await m.nextSlot();
    const [drawn] = track(await m.sendAll([m.market(KEEPER, "drawCommittee", [id])]));
    expect(drawn.status).toBe("success");
    return m.task(id);
  }

  async function settle(id: bigint, votes: ReturnType<Market["vote"]>[]) {
    const task = await m.task(id);
    const [r] = track(await m.sendAll([m.market(KEEPER, "settle", [id, task.round, votes])]));
    expect(r.status).toBe("success");
    return r;
  }

  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, accounts: 12 });
    m = new Market(dev);
    providers = await m.registerProviders(PROVIDER_ACCOUNTS, STAKE);
    await m.registerModel(0, MODEL);
  }, 60_000);
  afterAll(async () => {
    await dev?.stop();
  });

  it("registers providers with their stake, BLS key and service", async () => {
    const info = await m.c.public.readContract({
      address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
      abi: PROVIDER_REGISTRY_ABI,
      functionName: "getProvider",
      args: [p(1).address],
    });
    expect(info.status).toBe(1);
    expect(info.stake).toBe(STAKE);
    expect(info.blsPubkey).toBe(toHex(p(1).key.toPublicKey().toBytes()));
    expect(info.peerId).toBe(`peer-${p(1).account}`);
    expect(await m.balance(SYSTEM_CONTRACT_ADDRESSES.providerRegistry)).toBe(5n * STAKE);
    // A second registration, a key registered twice, a forged proof of possession, low stake.
    const reg = (from: number, key: Provider["key"], pop: Uint8Array, value: bigint) =>
      m.reason(
        from,
        PROVIDER_REGISTRY_ABI as Abi,
        SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
        "register",
        [
          toHex(key.toPublicKey().toBytes()),
          toHex(pop),
          { device: "x", memoryMiB: 1n, executionProvider: "cpu" },
          [],
          1n,
          "",
        ],
        value,
      );
    expect(await reg(p(1).account, p(1).key, new Uint8Array(96), STAKE)).toBe("already registered");
    expect(
      await reg(
        STRANGER,
        p(1).key,
        p(1)
          .key.sign(new Uint8Array([1]))
          .toBytes(),
        STAKE,
      ),
    ).toBe("invalid BLS public key or proof of possession");
    expect(await reg(STRANGER, p(1).key, new Uint8Array(96), 1n)).toMatch(/stake below the minimum/);
  });

  it("runs an honest task to settlement and pays everyone to the wei", async () => {
    const delta = await watch([CLIENT, ...PROVIDER_ACCOUNTS]);
    const deposit = 6n * OGPU;
    const fee = 3n * 10n ** 17n;
    const id = await submit({ deposit, fee });
    // p2 and p3 tie at 2 oGPU, committed in the same block with equal stake: the earlier bid wins.
    const awarded = await auction(id, [
      { p: p(1), price: 3n * OGPU },
      { p: p(2), price: 2n * OGPU },
      { p: p(3), price: 2n * OGPU },
      { p: p(4), price: 4n * OGPU },
    ]);
    expect(awarded.state).toBe(TaskState.Assigned);
    expect(awarded.provider.toLowerCase()).toBe(p(2).address.toLowerCase());
    expect(awarded.price).toBe(2n * OGPU);
    const verifying = await execute(id, GOOD);
    expect(verifying.state).toBe(TaskState.Verifying);
    expect(verifying.committee).toHaveLength(3);
    expect(verifying.committee.map((a) => a.toLowerCase())).not.toContain(p(2).address.toLowerCase());
    const r = await settle(id, [m.vote(verifying, providers, [0, 1, 2], Verdict.Accept)]);
    const [settled] = parseEventLogs({ abi: TASK_MARKET_ABI, logs: r.logs, eventName: "TaskSettled" });
    expect(settled.args).toMatchObject({
      verdict: Verdict.Accept,
      providerPaid: 2n * OGPU,
      committeePaid: fee,
    });
    const done = await m.task(id);
    expect(done.state).toBe(TaskState.Settled);
    expect(done.verdict).toBe(Verdict.Accept);

    // Exact balances: every account's change is its payments minus the gas it paid.
    const refund = deposit - 2n * OGPU - fee;
    expect(settled.args.refunded).toBe(refund);
    expect(await delta(CLIENT)).toBe(-deposit + refund);
    expect(await delta(p(2).account)).toBe(2n * OGPU);
    for (const member of verifying.committee) {
      const account = providers.find((x) => x.address.toLowerCase() === member.toLowerCase())?.account ?? -1;
      expect(await delta(account)).toBe(fee / 3n);
    }
    const loser = [1, 3, 4, 5]
      .map((i) => p(i).account)
      .find((a) => !verifying.committee.some((x) => x.toLowerCase() === m.address(a).toLowerCase()));
    expect(await delta(loser ?? -1)).toBe(0n);
    // Every transition was logged, in order.
    const logs = await m.c.public.getContractEvents({
      address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      abi: TASK_MARKET_ABI,
      eventName: "TaskStateChanged",
      args: { taskId: id },
      fromBlock: 0n,
    });
    expect(logs.map((l) => l.args.to)).toEqual([
      TaskState.Open,
      TaskState.Bidding,
      TaskState.Assigned,
      TaskState.Executed,
      TaskState.Verifying,
      TaskState.Settled,
    ]);
    expect(await m.balance(SYSTEM_CONTRACT_ADDRESSES.taskMarket)).toBe(0n);
  }, 120_000);

  it("slashes a provider whose result the committee rejects and completes with the next bidder", async () => {
    const delta = await watch([CLIENT]);
    const registryBefore = await m.balance(SYSTEM_CONTRACT_ADDRESSES.providerRegistry);
    const id = await submit();
    const awarded = await auction(id, [
      { p: p(1), price: 3n * OGPU },
      { p: p(3), price: 2n * OGPU },
      { p: p(4), price: 4n * OGPU },
    ]);
    expect(awarded.provider.toLowerCase()).toBe(p(3).address.toLowerCase());
    const verifying = await execute(id, BAD);
    await settle(id, [m.vote(verifying, providers, [0, 1, 2], Verdict.Reject)]);
    const slashed = bps(STAKE, COMPUTE_PARAMS.rejectSlashBps);
    const reassigned = await m.task(id);
    expect(reassigned.state).toBe(TaskState.Reassigned);
    expect(reassigned.round).toBe(2);
    expect(reassigned.provider.toLowerCase()).toBe(p(1).address.toLowerCase());
    const info = await m.c.public.readContract({
      address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
      abi: PROVIDER_REGISTRY_ABI,
      functionName: "getProvider",
      args: [p(3).address],
    });
    expect(info.stake).toBe(STAKE - slashed);
    expect(info.slashed).toBe(slashed);
    expect(info.status).toBe(2); // jailed
    // The slash left the registry: client compensation, committee pay, burn.
    expect(await m.balance(SYSTEM_CONTRACT_ADDRESSES.providerRegistry)).toBe(registryBefore - slashed);

    const second = await execute(id, GOOD);
    expect(second.committee.map((a) => a.toLowerCase())).not.toContain(p(1).address.toLowerCase());
    await settle(id, [m.vote(second, providers, [0, 1, 2], Verdict.Accept)]);
    const done = await m.task(id);
    expect(done.state).toBe(TaskState.Settled);
    expect(done.price).toBe(3n * OGPU);
    const refund = 6n * OGPU - 3n * OGPU - 3n * 10n ** 17n;
    expect(await delta(CLIENT)).toBe(-6n * OGPU + refund + bps(slashed, SLASH_SPLITS.reject.client));
  }, 120_000);

  it("slashes a provider that misses its deadline and reassigns the task", async () => {
    const id = await submit();
    const awarded = await auction(id, [
      { p: p(4), price: 1n * OGPU },
      { p: p(5), price: 2n * OGPU },
    ]);
    expect(awarded.provider.toLowerCase()).toBe(p(4).address.toLowerCase());
    expect(
      await m.reason(KEEPER, TASK_MARKET_ABI as Abi, SYSTEM_CONTRACT_ADDRESSES.taskMarket, "timeout", [id]),
    ).toBe("execution deadline not reached");
    await m.until(awarded.executionDeadline + 1n);
    const stakeBefore = (
      await m.c.public.readContract({
        address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
        abi: PROVIDER_REGISTRY_ABI,
        functionName: "getProvider",
        args: [p(4).address],
      })
    ).stake;
    track(await m.sendAll([m.market(KEEPER, "timeout", [id])]));
    const task = await m.task(id);
    expect(task.state).toBe(TaskState.Reassigned);
    expect(task.provider.toLowerCase()).toBe(p(5).address.toLowerCase());
    const after = await m.c.public.readContract({
      address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
      abi: PROVIDER_REGISTRY_ABI,
      functionName: "getProvider",
      args: [p(4).address],
    });
    expect(after.stake).toBe(stakeBefore - bps(stakeBefore, COMPUTE_PARAMS.missSlashBps));
    // p5 finishes it: a committee from the 2 active providers left (p3 and p4 are jailed).
    const verifying = await execute(id, GOOD);
    expect(verifying.committee).toHaveLength(2);
    await settle(id, [m.vote(verifying, providers, [0, 1], Verdict.Accept)]);
    expect((await m.task(id)).state).toBe(TaskState.Settled);
  }, 120_000);

  it("slashes the client's deposit when the committee attests the task cannot run", async () => {
    const deposit = 6n * OGPU;
    const delta = await watch([CLIENT, p(5).account]);
    const id = await submit({ deposit, committeeSize: 2 });
    await auction(id, [{ p: p(5), price: 2n * OGPU }]);
    const verifying = await execute(id, NO_OUTPUT);
    await settle(id, [m.vote(verifying, providers, [0, 1], Verdict.InvalidTask)]);
    const task = await m.task(id);
    expect(task.state).toBe(TaskState.Failed);
    expect(task.verdict).toBe(Verdict.InvalidTask);
    const slashed = bps(deposit, COMPUTE_PARAMS.invalidTaskSlashBps);
    expect(await delta(CLIENT)).toBe(-slashed);
    expect(await delta(p(5).account)).toBe(bps(slashed, SLASH_SPLITS.invalidTask.provider));
  }, 120_000);

  it("slashes a lazy committee member who votes against the quorum", async () => {
    // Wait for jails to end so the committee can be drawn from every provider.
    await m.until((await m.c.public.getBlock()).timestamp + COMPUTE_PARAMS.jailPeriod);
    const id = await submit({ committeeSize: 4, fee: 4n * 10n ** 17n });
    await auction(id, [{ p: p(2), price: 2n * OGPU }]);
    const verifying = await execute(id, BAD);
    expect(verifying.committee).toHaveLength(4);
    const lazy = providers.find((x) => x.address.toLowerCase() === verifying.committee[3].toLowerCase());
    if (lazy === undefined) throw new Error("lazy member not found");
    const stake = async (a: Hex) =>
      (
        await m.c.public.readContract({
          address: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
          abi: PROVIDER_REGISTRY_ABI,
          functionName: "getProvider",
          args: [a],
        })
      ).stake;
    const lazyBefore = await stake(lazy.address);
    await settle(id, [
      m.vote(verifying, providers, [0, 1, 2], Verdict.Reject),
      m.vote(verifying, providers, [3], Verdict.Accept),
    ]);
    expect(await stake(lazy.address)).toBe(lazyBefore - bps(lazyBefore, COMPUTE_PARAMS.dissentSlashBps));
  }, 180_000);

  it("refuses late, unregistered, malformed and duplicate bids, and bad settlements", async () => {
    const id = await submit();
    const market = SYSTEM_CONTRACT_ADDRESSES.taskMarket;
    const abi = TASK_MARKET_ABI as Abi;
    const commitment = keccak256(toHex("c"));
    expect(await m.reason(STRANGER, abi, market, "commitBid", [id, commitment])).toBe(
      "not a registered provider",
    );
    expect(await m.reason(CLIENT, abi, market, "commitBid", [id, commitment])).toBe(
      "the client cannot bid on its own task",
    );
    const salts = await m.commitBids(id, [{ p: p(1), price: 2n * OGPU }]);
    expect(await m.reason(p(1).account, abi, market, "commitBid", [id, commitment])).toBe(
      "already bid on this task",
    );
    expect(await m.reason(p(1).account, abi, market, "revealBid", [id, 2n * OGPU, salts[0]])).toBe(
      "reveal phase not started",
    );
    const task = await m.task(id);
    await m.until(task.commitEnd);
    expect(await m.reason(p(2).account, abi, market, "commitBid", [id, commitment])).toBe("bidding closed");
    expect(await m.reason(p(1).account, abi, market, "revealBid", [id, 3n * OGPU, salts[0]])).toBe(
      "reveal does not match the commitment",
    );
    expect(await m.reason(KEEPER, abi, market, "closeAuction", [id])).toBe("reveal phase not over");
    expect(await m.reason(KEEPER, abi, market, "getTask", [999n])).toBe("unknown task 999");
    expect(await m.reason(KEEPER, abi, market, "settle", [id, 0, []])).toBe("task is not being verified");
  }, 60_000);

  it("never puts a forged settlement in a block, and rejects a block that carries one", async () => {
    const id = await submit();
    await auction(id, [{ p: p(1), price: 2n * OGPU }]);
    const verifying = await execute(id, GOOD);
    // Signed by keys that are not the committee's: the aggregate does not verify.
    const impostors = verifying.committee.map((_, i) => ({
      account: -1,
      address: verifying.committee[i],
      key: SecretKey.fromKeygen(new Uint8Array(32).fill(200 + i)),
    }));
    const forged = m.vote(verifying, impostors, [0, 1, 2], Verdict.Accept);
    expect(
      await m.reason(KEEPER, TASK_MARKET_ABI as Abi, SYSTEM_CONTRACT_ADDRESSES.taskMarket, "settle", [
        id,
        verifying.round,
        [forged],
      ]),
    ).toBe("invalid aggregate signature for verdict 1");
    const chain = dev.node.el.chain;
    const wallet = m.c.wallet(KEEPER);
    const raw = await wallet.signTransaction({
      to: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      data: encodeFunctionData({
        abi: TASK_MARKET_ABI,
        functionName: "settle",
        args: [id, verifying.round, [forged]],
      }),
      gas: 2_000_000n,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 10n ** 9n,
      nonce: await m.c.public.getTransactionCount({ address: wallet.account.address, blockTag: "pending" }),
      chain: m.c.chain,
    });
    // The node's own block builder leaves it out: the transaction sits in the pool, never mined.
    const hash = await dev.call<Hex>("eth_sendRawTransaction", [raw]);
    const before = chain.head.header.number;
    await m.nextSlot();
    expect(chain.head.header.number).toBe(before + 1n);
    expect(await dev.call("eth_getTransactionReceipt", [hash])).toBeNull();
    expect((await m.task(id)).state).toBe(TaskState.Verifying);

    // A block built elsewhere with the settlement in it (ethereumjs' own block builder, which
    // includes a reverting transaction like any other) is INVALID on import.
    const parent = chain.head;
    const number = parent.header.number + 1n;
    const timestamp = parent.header.timestamp + 2n;
    const common = chain.config.commonAt(number, timestamp);
    const sm = chain.executor.stateAt(parent.header.stateRoot, common);
    const vm = await chain.executor.vmFor(common, sm, parent.header);
    const builder = await buildBlock(vm, {
      parentBlock: parent,
      headerData: {
        number,
        timestamp,
        gasLimit: parent.header.gasLimit,
        coinbase: parent.header.coinbase,
        mixHash: new Uint8Array(32).fill(9),
        parentBeaconBlockRoot: new Uint8Array(32),
      },
      withdrawals: [],
      blockOpts: { putBlockIntoBlockchain: false },
    });
    const tx = dev.node.el.pool.decode(hexToBytes(raw));
    const result = await builder.addTransaction(tx, { skipHardForkValidation: true });
    expect(result.execResult.exceptionError).toBeDefined();
    const { block } = await builder.build();
    const payload = block.toExecutionPayload() as unknown as Parameters<
      typeof dev.node.el.engine.newPayloadV4
    >[0];
    const status = await dev.node.el.engine.newPayloadV4(payload, [], `0x${"00".repeat(32)}`, []);
    expect(status.status).toBe("INVALID");
    expect(status.validationError).toMatch(/settlement failed: invalid aggregate signature/);
    expect(chain.store.hasBlock(block.hash())).toBe(false);
  }, 60_000);

  it("cancels before the award with a full refund", async () => {
    const delta = await watch([CLIENT]);
    const id = await submit();
    expect(
      await m.reason(KEEPER, TASK_MARKET_ABI as Abi, SYSTEM_CONTRACT_ADDRESSES.taskMarket, "cancelTask", [
        id,
      ]),
    ).toBe("only the client can cancel");
    track(await m.sendAll([m.market(CLIENT, "cancelTask", [id])]));
    expect((await m.task(id)).state).toBe(TaskState.Cancelled);
    expect(await delta(CLIENT)).toBe(0n);
  }, 60_000);
});
