/**
 * End-to-end with ethers v6 (batched HTTP JSON-RPC and WebSocket): deploy, call, events,
 * revert decoding, error mapping and transaction types against a real automining dev node.
 */
import {
  type BaseContract,
  Contract,
  ContractFactory,
  type ContractTransactionResponse,
  id,
  isError,
  JsonRpcProvider,
  parseUnits,
  Wallet,
  WebSocketProvider,
} from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompiledContract, compileFixtures } from "../helpers/contracts.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

// biome-ignore lint/suspicious/noExplicitAny: ethers contracts are dynamically typed without typechain
type AnyContract = BaseContract & Record<string, any>;

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("ethers against a dev node", () => {
  let dev: DevNodeHandle;
  let provider: JsonRpcProvider;
  let alice: Wallet;
  let bob: Wallet;
  let C: Record<string, CompiledContract>;

  async function deploy(name: string, args: unknown[] = []): Promise<AnyContract> {
    const factory = new ContractFactory(C[name].abi, C[name].bytecode, alice);
    const contract = await factory.deploy(...args);
    await contract.waitForDeployment();
    return contract as AnyContract;
  }

  beforeAll(async () => {
    C = compileFixtures();
    dev = await startDevNode({ automine: true });
    // cacheTimeout -1: ethers otherwise reuses identical results (the pending nonce) for 250 ms,
    // shorter than an automining node takes to mine the previous transaction.
    provider = new JsonRpcProvider(dev.httpUrl, 1337, {
      staticNetwork: true,
      pollingInterval: 50,
      cacheTimeout: -1,
    });
    alice = new Wallet(dev.accounts[2].privateKey, provider);
    bob = new Wallet(dev.accounts[3].privateKey, provider);
  });

  afterAll(async () => {
    provider?.destroy();
    await dev?.stop();
  });

  it("deploys, transfers and reads back with receipts and parsed events", async () => {
    const token = await deploy("Token", ["Ethers Token", "ET", 10n ** 24n]);
    expect(await token.name()).toBe("Ethers Token");
    const tx = (await token.transfer(bob.address, 500n)) as ContractTransactionResponse;
    const receipt = await tx.wait();
    expect(receipt?.status).toBe(1);
    expect(receipt?.gasUsed).toBeGreaterThan(21_000n);
    expect(receipt?.gasPrice).toBeGreaterThan(0n);
    const parsed = receipt?.logs.map((l) => token.interface.parseLog(l));
    expect(parsed?.[0]?.name).toBe("Transfer");
    expect(parsed?.[0]?.args.toArray()).toEqual([alice.address, bob.address, 500n]);
    expect(await token.balanceOf(bob.address)).toBe(500n);

    const events = await token.queryFilter(token.filters.Transfer(alice.address), 0, "latest");
    expect(events.map((e) => (e as unknown as { args: unknown[] }).args[2])).toEqual([500n]);
  });

  it("decodes custom errors and require reasons", async () => {
    const reverter = await deploy("Reverter");
    const custom = await rejection(reverter.failCustom.staticCall(42n));
    expect(isError(custom, "CALL_EXCEPTION")).toBe(true);
    if (!isError(custom, "CALL_EXCEPTION")) return;
    expect(custom.revert?.name).toBe("Unauthorized");
    expect([...(custom.revert?.args ?? [])]).toEqual([alice.address, 42n]);

    const reason = await rejection(reverter.failRequire(5n));
    expect(isError(reason, "CALL_EXCEPTION")).toBe(true);
    if (!isError(reason, "CALL_EXCEPTION")) return;
    expect(reason.reason).toBe("value must exceed 10");

    // Sending a transaction that would revert: ethers estimates gas first and reports the revert.
    const estimate = await rejection(reverter.bump(true));
    expect(isError(estimate, "CALL_EXCEPTION")).toBe(true);
  });

  it("maps pool rejections to ethers error codes", async () => {
    const nonce = await provider.getTransactionCount(alice.address, "latest");
    const low = await rejection(
      alice.sendTransaction({ to: bob.address, value: 1n, nonce: Math.max(0, nonce - 1) }),
    );
    expect(isError(low, "NONCE_EXPIRED")).toBe(true);

    const poor = Wallet.createRandom(provider);
    const funds = await rejection(poor.sendTransaction({ to: bob.address, value: 1n, gasLimit: 21_000n }));
    expect(isError(funds, "INSUFFICIENT_FUNDS")).toBe(true);
  });

  it("sends type 0, 1, 2 and 4 transactions", async () => {
    const legacy = await alice.sendTransaction({
      to: bob.address,
      value: 1n,
      type: 0,
      gasPrice: parseUnits("5", "gwei"),
    });
    expect((await legacy.wait())?.type).toBe(0);
    expect((await provider.getTransaction(legacy.hash))?.chainId).toBe(1337n);

    const t1 = await alice.sendTransaction({ to: bob.address, value: 1n, type: 1, accessList: [] });
    expect((await t1.wait())?.type).toBe(1);

    const t2 = await alice.sendTransaction({ to: bob.address, value: 1n, type: 2 });
    expect((await t2.wait())?.type).toBe(2);

    const delegate = await deploy("Delegate");
    const authority = new Wallet(dev.accounts[9].privateKey, provider);
    const auth = await authority.authorize({ address: await delegate.getAddress() });
    const t4 = await alice.sendTransaction({
      type: 4,
      to: authority.address,
      authorizationList: [auth],
      data: delegate.interface.encodeFunctionData("ping", [1n]),
    });
    expect((await t4.wait())?.status).toBe(1);
    expect(await provider.getCode(authority.address)).toBe(
      `0xef0100${(await delegate.getAddress()).slice(2).toLowerCase()}`,
    );
  });

  it("delivers contract events over a WebSocket provider", async () => {
    const emitter = await deploy("Emitter");
    const ws = new WebSocketProvider(dev.wsUrl, 1337, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const watched = new Contract(await emitter.getAddress(), C.Emitter.abi, ws) as AnyContract;
      const seen: bigint[] = [];
      const subscriptions = async () =>
        (await dev.node.metrics.rpc.subscriptions.get()).values[0]?.value ?? 0;
      const before = await subscriptions();
      await watched.on("Ping", (seq: bigint) => {
        seen.push(seq);
      });
      // ethers subscribes asynchronously: wait until the node has the subscription.
      const deadline = Date.now() + 10_000;
      while ((await subscriptions()) <= before) {
        if (Date.now() > deadline) throw new Error("no subscription");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await (await emitter.emitMany(id("ethers"), 2n, "e")).wait();
      await waitFor("two Ping events", () => seen.length >= 2);
      expect(seen).toEqual([1n, 2n]);
      await watched.removeAllListeners();
    } finally {
      await ws.destroy();
    }
  });
});
