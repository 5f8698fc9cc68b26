/**
 * End-to-end: a real dev node (automine) driven by viem over HTTP and WebSocket, with Solidity
 * fixtures compiled by solc. Proves the JSON-RPC surface works for a real client library:
 * deployments, receipts, logs, filters, subscriptions, revert decoding, gas estimation,
 * fee history and every transaction type viem can sign.
 */
import {
  type Abi,
  type Account,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeAbiParameters,
  encodeFunctionData,
  getContractAddress,
  type Hex,
  http,
  keccak256,
  type Log,
  type PublicClient,
  parseEther,
  parseEventLogs,
  parseGwei,
  toHex,
  type WalletClient,
  webSocket,
  zeroAddress,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompiledContract, compileFixtures } from "../helpers/contracts.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const CHAIN_ID = 1337;

function devChain(httpUrl: string, wsUrl: string): Chain {
  return defineChain({
    id: CHAIN_ID,
    name: "OpenGPU dev",
    nativeCurrency: { name: "oGPU", symbol: "oGPU", decimals: 18 },
    rpcUrls: { default: { http: [httpUrl], webSocket: [wsUrl] } },
  });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The innermost error viem reports that carries a JSON-RPC code (its `details` is our message). */
function rpcCause(err: unknown): { code: number; details: string } {
  expect(err).toBeInstanceOf(BaseError);
  const found = (err as BaseError).walk((e) => typeof (e as { code?: unknown }).code === "number");
  expect(found).toBeDefined();
  return found as unknown as { code: number; details: string };
}

function revertedError(err: unknown): ContractFunctionRevertedError {
  expect(err).toBeInstanceOf(BaseError);
  const found = (err as BaseError).walk((e) => e instanceof ContractFunctionRevertedError);
  expect(found).toBeInstanceOf(ContractFunctionRevertedError);
  return found as ContractFunctionRevertedError;
}

describe("viem against a dev node", () => {
  let dev: DevNodeHandle;
  let chain: Chain;
  let pub: PublicClient;
  let wsPub: PublicClient;
  let wallet: WalletClient;
  let alice: PrivateKeyAccount;
  let bob: PrivateKeyAccount;
  let C: Record<string, CompiledContract>;

  async function deploy(name: string, args: unknown[] = [], account: Account = alice): Promise<Hex> {
    const hash = await wallet.deployContract({
      abi: C[name].abi as Abi,
      bytecode: C[name].bytecode,
      args,
      account,
      chain,
    });
    const receipt = await pub.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("success");
    expect(receipt.contractAddress).toMatch(/^0x[0-9a-f]{40}$/);
    return receipt.contractAddress as Hex;
  }

  async function write(address: Hex, name: string, functionName: string, args: unknown[], account = alice) {
    const hash = await wallet.writeContract({
      address,
      abi: C[name].abi as Abi,
      functionName,
      args,
      account,
      chain,
    });
    return pub.waitForTransactionReceipt({ hash });
  }

  beforeAll(async () => {
    C = compileFixtures();
    dev = await startDevNode({ automine: true });
    chain = devChain(dev.httpUrl, dev.wsUrl);
    pub = createPublicClient({ chain, transport: http(dev.httpUrl), pollingInterval: 50 });
    wsPub = createPublicClient({ chain, transport: webSocket(dev.wsUrl), pollingInterval: 50 });
    wallet = createWalletClient({ chain, transport: http(dev.httpUrl), pollingInterval: 50 });
    alice = privateKeyToAccount(dev.accounts[0].privateKey);
    bob = privateKeyToAccount(dev.accounts[1].privateKey);
  });

  afterAll(async () => {
    await (
      await (wsPub?.transport as unknown as { getRpcClient(): Promise<{ close(): void }> })?.getRpcClient()
    )?.close();
    await dev?.stop();
  });

  it("deploys a token, writes and reads it, and returns complete receipts", async () => {
    const supply = parseEther("1000000");
    const hash = await wallet.deployContract({
      abi: C.Token.abi as Abi,
      bytecode: C.Token.bytecode,
      args: ["Test Token", "TT", supply],
      account: alice,
      chain,
    });
    const deployReceipt = await pub.waitForTransactionReceipt({ hash });
    expect(deployReceipt.status).toBe("success");
    expect(deployReceipt.to).toBeNull();
    expect(deployReceipt.from).toBe(alice.address.toLowerCase());
    const deployTx = await pub.getTransaction({ hash });
    expect(deployTx.to).toBeNull();
    expect(deployReceipt.contractAddress).toBe(
      getContractAddress({ from: alice.address, nonce: BigInt(deployTx.nonce) }).toLowerCase(),
    );
    const token = deployReceipt.contractAddress as Hex;
    expect(await pub.getCode({ address: token })).toBe(C.Token.deployedBytecode);
    const mintEvents = parseEventLogs({ abi: C.Token.abi as Abi, logs: deployReceipt.logs });
    expect(mintEvents).toHaveLength(1);
    expect(mintEvents[0]).toMatchObject({
      eventName: "Transfer",
      args: { from: zeroAddress, to: alice.address, value: supply },
    });

    expect(await pub.readContract({ address: token, abi: C.Token.abi as Abi, functionName: "name" })).toBe(
      "Test Token",
    );
    expect(
      await pub.readContract({ address: token, abi: C.Token.abi as Abi, functionName: "decimals" }),
    ).toBe(18);

    const receipt = await write(token, "Token", "transfer", [bob.address, 1234n]);
    expect(receipt.status).toBe("success");
    expect(receipt.type).toBe("eip1559");
    expect(receipt.to).toBe(token);
    expect(receipt.contractAddress).toBeNull();
    expect(receipt.gasUsed).toBeGreaterThan(21_000n);
    expect(receipt.cumulativeGasUsed).toBe(receipt.gasUsed);
    const block = await pub.getBlock({ blockHash: receipt.blockHash });
    expect(block.number).toBe(receipt.blockNumber);
    expect(block.baseFeePerGas).not.toBeNull();
    expect(receipt.effectiveGasPrice).toBeGreaterThanOrEqual(block.baseFeePerGas as bigint);
    const tx = await pub.getTransaction({ hash: receipt.transactionHash });
    expect(receipt.effectiveGasPrice).toBe(
      (block.baseFeePerGas as bigint) +
        ((tx.maxPriorityFeePerGas as bigint) < (tx.maxFeePerGas as bigint) - (block.baseFeePerGas as bigint)
          ? (tx.maxPriorityFeePerGas as bigint)
          : (tx.maxFeePerGas as bigint) - (block.baseFeePerGas as bigint)),
    );
    expect(receipt.logs).toHaveLength(1);
    expect(receipt.logs[0]).toMatchObject({
      address: token,
      blockHash: receipt.blockHash,
      blockNumber: receipt.blockNumber,
      transactionHash: receipt.transactionHash,
      transactionIndex: 0,
      logIndex: 0,
      removed: false,
    });
    const [transfer] = parseEventLogs({ abi: C.Token.abi as Abi, logs: receipt.logs, eventName: "Transfer" });
    expect(transfer.args).toEqual({ from: alice.address, to: bob.address, value: 1234n });
    expect(
      await pub.readContract({
        address: token,
        abi: C.Token.abi as Abi,
        functionName: "balanceOf",
        args: [bob.address],
      }),
    ).toBe(1234n);
    expect(
      await pub.readContract({
        address: token,
        abi: C.Token.abi as Abi,
        functionName: "balanceOf",
        args: [bob.address],
        blockNumber: receipt.blockNumber - 1n,
      }),
    ).toBe(0n);
  });

  it("filters logs by address, topics, alternatives, block ranges and block hash", async () => {
    const emitter = await deploy("Emitter");
    const abi = C.Emitter.abi as Abi;
    const tagA = keccak256(toHex("A"));
    const tagB = keccak256(toHex("B"));
    const r1 = await write(emitter, "Emitter", "emitMany", [tagA, 3n, "first"]);
    const r2 = await write(emitter, "Emitter", "emitMany", [tagB, 2n, "second"]);
    expect(r2.blockNumber).toBe(r1.blockNumber + 1n);
    // 3 Ping + 3 Tagged + 1 anonymous
    expect(r1.logs).toHaveLength(7);
    expect(r1.logs.map((l) => l.logIndex)).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const range = { fromBlock: r1.blockNumber, toBlock: r2.blockNumber };
    const all = await pub.getLogs({ address: emitter, ...range });
    expect(all).toHaveLength(12);
    expect(all.slice(7).every((l) => l.blockNumber === r2.blockNumber)).toBe(true);

    const tagged = await pub.getContractEvents({
      address: emitter,
      abi,
      eventName: "Tagged",
      args: { tag: tagA },
      ...range,
    });
    expect(tagged).toHaveLength(3);
    expect(tagged.map((l) => (l as unknown as { args: { seq: bigint } }).args.seq)).toEqual([1n, 2n, 3n]);
    expect((tagged[0] as unknown as { args: Record<string, unknown> }).args).toEqual({
      tag: tagA,
      seq: 1n,
      sender: alice.address,
      note: "first",
    });

    // OR within a topic position.
    const some = await pub.getContractEvents({
      address: emitter,
      abi,
      eventName: "Ping",
      args: { seq: [2n, 5n] },
      ...range,
    });
    expect(some.map((l) => (l as unknown as { args: { seq: bigint } }).args.seq)).toEqual([2n, 5n]);

    // Single-block range.
    const second = await pub.getContractEvents({
      address: emitter,
      abi,
      eventName: "Ping",
      fromBlock: r2.blockNumber,
      toBlock: r2.blockNumber,
    });
    expect(second).toHaveLength(2);

    // Block hash instead of a range.
    const byHash = await pub.getLogs({ address: emitter, blockHash: r1.blockHash });
    expect(byHash).toHaveLength(7);

    // Second-topic filter with a wildcard first position (raw topics).
    const bySender = await pub.request({
      method: "eth_getLogs",
      params: [
        {
          ...{ fromBlock: toHex(r1.blockNumber), toBlock: toHex(r2.blockNumber) },
          topics: [null, null, null, `0x${alice.address.slice(2).toLowerCase().padStart(64, "0")}`],
        },
      ],
    });
    // Tagged has `sender` as its third indexed topic.
    expect(bySender).toHaveLength(5);

    // Another address sees nothing; an event with the same topic but another address neither.
    expect(await pub.getLogs({ address: alice.address, ...range })).toHaveLength(0);

    // fromBlock after toBlock is an invalid range.
    await expect(
      pub.getLogs({ address: emitter, fromBlock: r2.blockNumber, toBlock: r1.blockNumber }),
    ).rejects.toThrow(/invalid block range/);
  });

  it("serves polling filters (createEventFilter + getFilterChanges, block filters)", async () => {
    const emitter = await deploy("Emitter");
    const abi = C.Emitter.abi as Abi;
    const filter = await pub.createContractEventFilter({ address: emitter, abi, eventName: "Ping" });
    const eventFilter = await pub.createEventFilter({
      address: emitter,
      event: abi.find((i) => i.type === "event" && i.name === "Tagged") as never,
      args: { tag: keccak256(toHex("X")) } as never,
    });
    const blockFilter = await pub.createBlockFilter();
    const pendingFilter = await pub.createPendingTransactionFilter();
    expect(await pub.getFilterChanges({ filter })).toEqual([]);

    const receipt = await write(emitter, "Emitter", "emitMany", [keccak256(toHex("X")), 2n, "x"]);
    await write(emitter, "Emitter", "emitMany", [keccak256(toHex("Y")), 1n, "y"]);

    const changes = (await pub.getFilterChanges({ filter })) as unknown as (Log & {
      args: { seq: bigint };
      eventName: string;
    })[];
    expect(changes.map((c) => c.eventName)).toEqual(["Ping", "Ping", "Ping"]);
    expect(changes.map((c) => c.args.seq)).toEqual([1n, 2n, 3n]);
    expect(changes[0].blockHash).toBe(receipt.blockHash);
    expect(await pub.getFilterChanges({ filter })).toEqual([]);

    const tagged = (await pub.getFilterChanges({ filter: eventFilter })) as unknown as {
      args: { note: string };
    }[];
    expect(tagged.map((t) => t.args.note)).toEqual(["x", "x"]);

    const hashes = await pub.getFilterChanges({ filter: blockFilter });
    expect(hashes).toHaveLength(2);
    expect(hashes[0]).toBe(receipt.blockHash);
    const pendingHashes = await pub.getFilterChanges({ filter: pendingFilter });
    expect(pendingHashes).toHaveLength(2);
    expect(pendingHashes[0]).toBe(receipt.transactionHash);

    // eth_getFilterLogs re-runs the filter's range: without fromBlock/toBlock (as geth) that is
    // the latest block; with an explicit fromBlock it covers both transactions.
    const latestOnly = (await pub.getFilterLogs({ filter })) as unknown as { args: { seq: bigint } }[];
    expect(latestOnly.map((l) => l.args.seq)).toEqual([3n]);
    const ranged = await pub.createContractEventFilter({
      address: emitter,
      abi,
      eventName: "Ping",
      fromBlock: receipt.blockNumber,
    });
    const logs = (await pub.getFilterLogs({ filter: ranged })) as unknown as { args: { seq: bigint } }[];
    expect(logs.map((l) => l.args.seq)).toEqual([1n, 2n, 3n]);
    expect(await pub.getFilterChanges({ filter: ranged })).toEqual([]);

    expect(await pub.uninstallFilter({ filter })).toBe(true);
    expect(await pub.uninstallFilter({ filter })).toBe(false);
    await expect(pub.getFilterChanges({ filter })).rejects.toThrow(/filter not found/);
  });

  it("delivers watchContractEvent and watchBlocks over WebSocket subscriptions", async () => {
    const emitter = await deploy("Emitter");
    const abi = C.Emitter.abi as Abi;
    const subscriptions = async () => (await dev.node.metrics.rpc.subscriptions.get()).values[0]?.value ?? 0;
    const before = await subscriptions();

    const events: { seq: bigint; sender: string; blockNumber: bigint | null; removed: boolean }[] = [];
    const blocks: { number: bigint | null; hash: string | null }[] = [];
    const errors: unknown[] = [];
    const unwatchEvents = wsPub.watchContractEvent({
      address: emitter,
      abi,
      eventName: "Ping",
      onLogs: (logs) => {
        for (const log of logs as unknown as {
          args: { seq: bigint; sender: string };
          blockNumber: bigint;
          removed: boolean;
        }[])
          events.push({ ...log.args, blockNumber: log.blockNumber, removed: log.removed });
      },
      onError: (err) => errors.push(err),
    });
    const unwatchBlocks = wsPub.watchBlocks({
      onBlock: (block) => blocks.push({ number: block.number, hash: block.hash }),
      onError: (err) => errors.push(err),
    });
    const pendingHashes: string[] = [];
    const unwatchPending = wsPub.watchPendingTransactions({
      onTransactions: (hashes) => pendingHashes.push(...hashes),
      onError: (err) => errors.push(err),
    });
    await waitFor("three subscriptions", async () =>
      (await subscriptions()) >= before + 3 ? true : undefined,
    );

    const r1 = await write(emitter, "Emitter", "emitMany", [keccak256(toHex("ws")), 2n, "ws"]);
    const r2 = await write(emitter, "Emitter", "emitMany", [keccak256(toHex("ws")), 1n, "ws"]);
    await waitFor("three Ping events", () => (events.length >= 3 ? true : undefined));
    await waitFor("both blocks", () => (blocks.some((b) => b.number === r2.blockNumber) ? true : undefined));
    await waitFor("both pending transactions", () => (pendingHashes.length >= 2 ? true : undefined));
    unwatchEvents();
    unwatchBlocks();
    unwatchPending();
    expect(pendingHashes).toEqual([r1.transactionHash, r2.transactionHash]);

    expect(errors).toEqual([]);
    expect(events).toEqual([
      { seq: 1n, sender: alice.address, blockNumber: r1.blockNumber, removed: false },
      { seq: 2n, sender: alice.address, blockNumber: r1.blockNumber, removed: false },
      { seq: 3n, sender: alice.address, blockNumber: r2.blockNumber, removed: false },
    ]);
    expect(blocks).toContainEqual({ number: r1.blockNumber, hash: r1.blockHash });
    expect(blocks).toContainEqual({ number: r2.blockNumber, hash: r2.blockHash });
    await waitFor("unsubscribe", async () => ((await subscriptions()) === before ? true : undefined));

    // Plain requests and transactions over the same WebSocket transport.
    expect(await wsPub.getBlockNumber()).toBeGreaterThanOrEqual(r2.blockNumber);
    const wsWallet = createWalletClient({ chain, transport: webSocket(dev.wsUrl) });
    const hash = await wsWallet.sendTransaction({ account: bob, to: alice.address, value: 1n, chain });
    expect((await wsPub.waitForTransactionReceipt({ hash })).status).toBe("success");
    await (
      await (wsWallet.transport as unknown as { getRpcClient(): Promise<{ close(): void }> }).getRpcClient()
    ).close();
  });

  it("decodes custom errors and require() reasons from reverted calls", async () => {
    const reverter = await deploy("Reverter");
    const abi = C.Reverter.abi as Abi;

    const custom = await pub
      .simulateContract({ address: reverter, abi, functionName: "failCustom", args: [42n], account: alice })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const decoded = revertedError(custom);
    expect(decoded.data?.errorName).toBe("Unauthorized");
    expect(decoded.data?.args).toEqual([alice.address, 42n]);
    expect(decoded.raw).toMatch(/^0x[0-9a-f]{8}/);

    // The raw JSON-RPC error: code 3, "execution reverted", revert data in `data`.
    const raw = await dev.rpc("eth_call", [
      {
        from: alice.address,
        to: reverter,
        data: encodeFunctionData({ abi, functionName: "failCustom", args: [42n] }),
      },
      "latest",
    ]);
    expect(raw.error?.code).toBe(3);
    expect(raw.error?.message).toBe("execution reverted");
    expect(raw.error?.data).toBe(decoded.raw);

    const reason = await pub
      .readContract({ address: reverter, abi, functionName: "failRequire", args: [5n] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(revertedError(reason).reason).toBe("value must exceed 10");
    expect(await pub.readContract({ address: reverter, abi, functionName: "failRequire", args: [11n] })).toBe(
      22n,
    );

    // Token's custom error with three arguments, through simulateContract of a write.
    const token = await deploy("Token", ["T", "T", 100n]);
    const insufficient = await pub
      .simulateContract({
        address: token,
        abi: C.Token.abi as Abi,
        functionName: "transfer",
        args: [alice.address, 101n],
        account: bob,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const err = revertedError(insufficient);
    expect(err.data?.errorName).toBe("InsufficientBalance");
    expect(err.data?.args).toEqual([bob.address, 0n, 101n]);

    // estimateGas reverts the same way (viem decodes it too).
    const estimate = await pub
      .estimateContractGas({ address: reverter, abi, functionName: "bump", args: [true], account: alice })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(revertedError(estimate).data?.errorName).toBe("Unauthorized");

    const ok = await pub.simulateContract({
      address: token,
      abi: C.Token.abi as Abi,
      functionName: "transfer",
      args: [bob.address, 1n],
      account: alice,
    });
    expect(ok.result).toBe(true);
  });

  it("estimates gas that is enough and close to what is used", async () => {
    expect(await pub.estimateGas({ account: alice, to: bob.address, value: 1n })).toBe(21_000n);
    const token = await deploy("Token", ["T", "T", 1000n]);
    const data = encodeFunctionData({
      abi: C.Token.abi as Abi,
      functionName: "transfer",
      args: [bob.address, 10n],
    });
    const estimate = await pub.estimateGas({ account: alice, to: token, data });
    const hash = await wallet.sendTransaction({ account: alice, to: token, data, gas: estimate, chain });
    const receipt = await pub.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("success");
    expect(receipt.gasUsed).toBeLessThanOrEqual(estimate);
    // Within geth's 1.5% error ratio plus the 63/64 stipend margin.
    expect(Number(estimate - receipt.gasUsed)).toBeLessThan(Number(receipt.gasUsed) * 0.05);
    // Contract creation estimate.
    const deployGas = await pub.estimateGas({
      account: alice,
      data: `${C.Emitter.bytecode}` as Hex,
    });
    expect(deployGas).toBeGreaterThan(53_000n);
  });

  it("reports fee history and full blocks", async () => {
    for (let i = 0; i < 4; i++) {
      await pub.waitForTransactionReceipt({
        hash: await wallet.sendTransaction({
          account: alice,
          to: bob.address,
          value: 1n,
          maxPriorityFeePerGas: parseGwei(String(i + 1)),
          chain,
        }),
      });
    }
    const latest = await pub.getBlockNumber();
    const history = await pub.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] });
    expect(history.oldestBlock).toBe(latest - 3n);
    expect(history.baseFeePerGas).toHaveLength(5);
    expect(history.gasUsedRatio).toHaveLength(4);
    expect(history.reward).toHaveLength(4);
    expect(history.reward?.map((r) => r.length)).toEqual([2, 2, 2, 2]);
    expect(history.reward?.map((r) => r[0])).toEqual([1n, 2n, 3n, 4n].map((g) => g * 10n ** 9n));
    for (const ratio of history.gasUsedRatio) expect(ratio).toBeGreaterThan(0);
    const latestBlock = await pub.getBlock({ blockTag: "latest" });
    expect(history.baseFeePerGas[3]).toBe(latestBlock.baseFeePerGas);

    const full = await pub.getBlock({ blockNumber: latest, includeTransactions: true });
    expect(full.transactions).toHaveLength(1);
    const tx = full.transactions[0];
    expect(typeof tx).toBe("object");
    expect(tx).toMatchObject({
      blockHash: full.hash,
      blockNumber: latest,
      from: alice.address.toLowerCase(),
      to: bob.address.toLowerCase(),
      value: 1n,
      transactionIndex: 0,
      type: "eip1559",
      chainId: CHAIN_ID,
      maxPriorityFeePerGas: parseGwei("4"),
    });
    const hashesOnly = await pub.getBlock({ blockNumber: latest });
    expect(hashesOnly.transactions).toEqual([tx.hash]);
    expect(await pub.getBlockTransactionCount({ blockNumber: latest })).toBe(1);
  });

  it("sends legacy, EIP-2930 and EIP-1559 transactions", async () => {
    const token = await deploy("Token", ["T", "T", 1000n]);
    const data = encodeFunctionData({
      abi: C.Token.abi as Abi,
      functionName: "transfer",
      args: [bob.address, 1n],
    });

    const legacyHash = await wallet.sendTransaction({
      account: alice,
      to: token,
      data,
      type: "legacy",
      chain,
    });
    const legacy = await pub.getTransaction({ hash: legacyHash });
    expect(legacy.type).toBe("legacy");
    expect(legacy.chainId).toBe(CHAIN_ID);
    expect([BigInt(CHAIN_ID * 2 + 35), BigInt(CHAIN_ID * 2 + 36)]).toContain(legacy.v);
    expect((await pub.getTransactionReceipt({ hash: legacyHash })).type).toBe("legacy");

    const balanceSlot = keccak256(
      encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [alice.address, 3n]),
    );
    const accessList = [{ address: token, storageKeys: [balanceSlot] }];
    const al = await pub.createAccessList({ account: alice, to: token, data });
    expect(al.accessList.some((e) => e.address === token)).toBe(false);
    const eip2930Hash = await wallet.sendTransaction({
      account: alice,
      to: token,
      data,
      type: "eip2930",
      accessList,
      chain,
    });
    const eip2930 = await pub.getTransaction({ hash: eip2930Hash });
    expect(eip2930.type).toBe("eip2930");
    expect(eip2930.accessList).toEqual(accessList);
    expect(eip2930.yParity === 0 || eip2930.yParity === 1).toBe(true);
    const r2930 = await pub.getTransactionReceipt({ hash: eip2930Hash });
    expect(r2930.type).toBe("eip2930");
    expect(r2930.status).toBe("success");

    const eip1559Hash = await wallet.sendTransaction({
      account: alice,
      to: token,
      data,
      type: "eip1559",
      maxFeePerGas: parseGwei("50"),
      maxPriorityFeePerGas: parseGwei("2"),
      chain,
    });
    const eip1559 = await pub.getTransaction({ hash: eip1559Hash });
    expect(eip1559).toMatchObject({
      type: "eip1559",
      maxFeePerGas: parseGwei("50"),
      maxPriorityFeePerGas: parseGwei("2"),
    });
    const r1559 = await pub.getTransactionReceipt({ hash: eip1559Hash });
    const block = await pub.getBlock({ blockNumber: r1559.blockNumber });
    expect(r1559.effectiveGasPrice).toBe((block.baseFeePerGas as bigint) + parseGwei("2"));
    expect(eip1559.gasPrice).toBe(r1559.effectiveGasPrice);

    expect(
      await pub.readContract({
        address: token,
        abi: C.Token.abi as Abi,
        functionName: "balanceOf",
        args: [bob.address],
      }),
    ).toBe(3n);
  });

  it("sends EIP-7702 transactions that install a delegation designator", async () => {
    const delegate = await deploy("Delegate");
    const abi = C.Delegate.abi as Abi;

    // Sponsored: bob's authorization, alice sends and pays.
    const authority = privateKeyToAccount(dev.accounts[7].privateKey);
    const authorityNonce = await pub.getTransactionCount({ address: authority.address });
    const authorization = await wallet.signAuthorization({ account: authority, contractAddress: delegate });
    expect(authorization.nonce).toBe(authorityNonce);
    expect(authorization.chainId).toBe(CHAIN_ID);
    const hash = await wallet.sendTransaction({
      account: alice,
      chain,
      authorizationList: [authorization],
      to: authority.address,
      data: encodeFunctionData({ abi, functionName: "ping", args: [7n] }),
    });
    const receipt = await pub.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("success");
    expect(receipt.type).toBe("eip7702");
    expect(await pub.getCode({ address: authority.address })).toBe(
      `0xef0100${delegate.slice(2).toLowerCase()}`,
    );
    const [executed] = parseEventLogs({ abi, logs: receipt.logs });
    expect(executed).toMatchObject({
      eventName: "Executed",
      address: authority.address.toLowerCase(),
      args: { self: authority.address, caller: alice.address, value: 7n },
    });
    expect(await pub.readContract({ address: authority.address, abi, functionName: "calls" })).toBe(1n);
    expect(await pub.getTransactionCount({ address: authority.address })).toBe(authorityNonce + 1);
    const tx = await pub.getTransaction({ hash });
    expect(tx.type).toBe("eip7702");
    expect(tx.authorizationList).toHaveLength(1);
    expect(tx.authorizationList?.[0]).toMatchObject({
      address: delegate,
      chainId: CHAIN_ID,
      nonce: authorityNonce,
    });

    // Self-executing: the authority signs for its own transaction (nonce + 1).
    const self = privateKeyToAccount(dev.accounts[8].privateKey);
    const selfWallet = createWalletClient({ account: self, chain, transport: http(dev.httpUrl) });
    const selfAuth = await selfWallet.signAuthorization({ contractAddress: delegate, executor: "self" });
    const selfHash = await selfWallet.sendTransaction({
      authorizationList: [selfAuth],
      to: self.address,
      data: encodeFunctionData({ abi, functionName: "ping", args: [8n] }),
    });
    expect((await pub.waitForTransactionReceipt({ hash: selfHash })).status).toBe("success");
    expect(await pub.getCode({ address: self.address })).toBe(`0xef0100${delegate.slice(2).toLowerCase()}`);
    expect(await pub.readContract({ address: self.address, abi, functionName: "calls" })).toBe(1n);
  });

  it("refuses blob (type 3) transactions", async () => {
    const nonce = await pub.getTransactionCount({ address: alice.address });
    const serialized = await alice.signTransaction({
      type: "eip4844",
      chainId: CHAIN_ID,
      nonce,
      to: bob.address,
      gas: 21_000n,
      maxFeePerGas: parseGwei("20"),
      maxPriorityFeePerGas: parseGwei("1"),
      maxFeePerBlobGas: parseGwei("1"),
      blobVersionedHashes: [`0x01${"ab".repeat(31)}`],
    });
    expect(serialized.startsWith("0x03")).toBe(true);
    const err = await pub.sendRawTransaction({ serializedTransaction: serialized }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = rpcCause(err);
    expect(cause.code).toBe(-32000);
    expect(cause.details).toMatch(/^transaction type not supported/);
    expect(await pub.getTransactionCount({ address: alice.address })).toBe(nonce);
  });

  it("deploys with CREATE2 from a factory at the predicted address", async () => {
    const factory = await deploy("Factory");
    const abi = C.Factory.abi as Abi;
    const salt = keccak256(toHex("salt-1"));
    const predicted = (await pub.readContract({
      address: factory,
      abi,
      functionName: "predict",
      args: [salt, alice.address, 99n],
    })) as Hex;
    const initCode = `${C.Child.bytecode}${encodeAbiParameters(
      [{ type: "address" }, { type: "uint256" }],
      [alice.address, 99n],
    ).slice(2)}` as Hex;
    expect(predicted).toBe(
      getContractAddress({ opcode: "CREATE2", from: factory, salt, bytecode: initCode }),
    );

    const sim = await pub.simulateContract({
      address: factory,
      abi,
      functionName: "deploy",
      args: [salt, 99n],
      account: alice,
    });
    expect(sim.result).toBe(predicted);
    const receipt = await write(factory, "Factory", "deploy", [salt, 99n]);
    const [deployed] = parseEventLogs({ abi, logs: receipt.logs, eventName: "Deployed" }) as unknown as {
      args: { child: Hex; salt: Hex; owner: Hex };
    }[];
    expect(deployed.args).toEqual({ child: predicted, salt, owner: alice.address });
    expect((await pub.getCode({ address: predicted }))?.length).toBeGreaterThan(2);
    expect(
      await pub.readContract({ address: predicted, abi: C.Child.abi as Abi, functionName: "owner" }),
    ).toBe(alice.address);
    expect(
      await pub.readContract({ address: predicted, abi: C.Child.abi as Abi, functionName: "value" }),
    ).toBe(99n);

    // Same salt again: CREATE2 collides and the deployment reverts.
    const again = await pub
      .simulateContract({ address: factory, abi, functionName: "deploy", args: [salt, 99n], account: alice })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(again).toBeInstanceOf(BaseError);
  });

  it("mines a transaction that reverts with status 0 and a decodable receipt", async () => {
    const reverter = await deploy("Reverter");
    const hash = await wallet.writeContract({
      address: reverter,
      abi: C.Reverter.abi as Abi,
      functionName: "bump",
      args: [true],
      account: alice,
      chain,
      gas: 100_000n,
    });
    const receipt = await pub.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("reverted");
    expect(receipt.logs).toEqual([]);
    expect(receipt.gasUsed).toBeGreaterThan(21_000n);
    expect(receipt.gasUsed).toBeLessThan(100_000n);
    expect(
      await pub.readContract({ address: reverter, abi: C.Reverter.abi as Abi, functionName: "counter" }),
    ).toBe(0n);
  });
});

describe("viem against a dev node without automine", () => {
  let dev: DevNodeHandle;
  let pub: PublicClient;
  let wallet: WalletClient;
  let chain: Chain;

  beforeAll(async () => {
    // A block time far beyond the test: blocks are produced only when the test asks.
    dev = await startDevNode({ automine: false, blockTime: 3600 });
    chain = devChain(dev.httpUrl, dev.wsUrl);
    pub = createPublicClient({ chain, transport: http(dev.httpUrl), pollingInterval: 50 });
    wallet = createWalletClient({ chain, transport: http(dev.httpUrl), pollingInterval: 50 });
  });

  afterAll(async () => {
    await dev?.stop();
  });

  it("counts pending transactions in the pending nonce until they are mined", async () => {
    const alice = privateKeyToAccount(dev.accounts[0].privateKey);
    const bob = privateKeyToAccount(dev.accounts[1].privateKey);
    expect(await pub.getTransactionCount({ address: alice.address, blockTag: "latest" })).toBe(0);
    const first = await wallet.sendTransaction({ account: alice, to: bob.address, value: 1n, chain });
    const second = await wallet.sendTransaction({ account: alice, to: bob.address, value: 2n, chain });
    expect(await pub.getTransactionCount({ address: alice.address, blockTag: "latest" })).toBe(0);
    expect(await pub.getTransactionCount({ address: alice.address, blockTag: "pending" })).toBe(2);
    const pending = await pub.getTransaction({ hash: second });
    expect(pending).toMatchObject({ nonce: 1, blockHash: null, blockNumber: null, transactionIndex: null });
    expect(await pub.getTransactionReceipt({ hash: first }).catch((e: unknown) => e)).toBeInstanceOf(
      BaseError,
    );

    const producer = dev.node.producer;
    if (producer === undefined) throw new Error("dev node without producer");
    await producer.trigger();
    const receipt = await pub.waitForTransactionReceipt({ hash: second });
    expect(receipt.status).toBe("success");
    expect((await pub.getTransactionReceipt({ hash: first })).blockNumber).toBe(receipt.blockNumber);
    expect(await pub.getTransactionCount({ address: alice.address, blockTag: "latest" })).toBe(2);
    expect(await pub.getTransactionCount({ address: alice.address, blockTag: "pending" })).toBe(2);
  });
});
