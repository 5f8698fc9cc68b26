/**
 * The honest compute flow over the network: a 4-node devnet where every node also runs a staked
 * provider agent. The client uploads the model to node 3 and submits the task at node 0; the
 * cheapest provider (node 0's) fetches the model from node 3 over the p2p blob protocol, runs it
 * and commits the result; the committee (the providers of nodes 1-3) fetch the output from node
 * 0, re-execute, gossip their BLS attestations, and one of them settles. Every node agrees on
 * the settled task, and the output is the model's real output.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Abi, createPublicClient, createWalletClient, defineChain, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveDevAccounts, TEST_MNEMONIC } from "../../genesis/index.ts";
import { mlpModel, seededInputs } from "../../node/compute-layer/models/generate.ts";
import { onChainTensorSpec } from "../../node/compute-layer/onchain.ts";
import { OnnxRunner } from "../../node/compute-layer/runtime/runner.ts";
import { encodeCanonical, sha256Hex } from "../../node/compute-layer/runtime/tensor.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { MODEL_REGISTRY_ABI } from "../../precompiles/model-registry/index.ts";
import { PROVIDER_REGISTRY_ABI } from "../../precompiles/provider-registry/index.ts";
import { TASK_MARKET_ABI, TaskState, Verdict } from "../../precompiles/task-market/index.ts";
import { type Devnet, startDevnet } from "../../scripts/devnet.ts";
import { rpc, until } from "./util.ts";

const OGPU = 10n ** 18n;
let dir: string;
let devnet: Devnet;
const logs = () =>
  devnet.nodes.map((n) => `--- node ${n.index}\n${devnet.output(n.index).slice(-2000)}`).join("\n");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-compute-devnet-"));
  devnet = await startDevnet({
    nodes: 4,
    validators: 16,
    dir,
    slotSeconds: 2,
    genesisDelay: 10,
    logLevel: "info",
    providers: true,
  });
}, 120_000);

afterAll(async () => {
  await devnet?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("compute over a 4-node devnet", () => {
  it("runs an honest task across nodes: p2p model and output transfer, gossiped attestations, settlement", async () => {
    const chain = defineChain({
      id: 1337,
      name: "devnet",
      nativeCurrency: { name: "oGPU", symbol: "oGPU", decimals: 18 },
      rpcUrls: { default: { http: [devnet.nodes[0].rpc] } },
    });
    const client = (i: number) =>
      createPublicClient({ chain, transport: http(devnet.nodes[i].rpc), cacheTime: 0 });
    const account = privateKeyToAccount(deriveDevAccounts(TEST_MNEMONIC, 10)[0].privateKey);
    const wallet = createWalletClient({ chain, account, transport: http(devnet.nodes[0].rpc) });
    const read = <T>(i: number, address: Hex, abi: Abi, functionName: string, args: unknown[] = []) =>
      client(i).readContract({ address, abi, functionName, args }) as Promise<T>;

    // The four agents register themselves once the chain runs.
    await until(
      async () =>
        (await read<bigint>(
          0,
          SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
          PROVIDER_REGISTRY_ABI,
          "providerCount",
        )) === 4n,
      90_000,
      logs,
    );

    const model = mlpModel();
    // Only node 3 holds the model's bytes.
    expect(
      await rpc<Hex>(devnet.nodes[3].rpc, "opengpu_putBlob", [
        `0x${Buffer.from(model.bytes).toString("hex")}`,
      ]),
    ).toBe(model.sha256);
    const send = async (to: Hex, abi: Abi, functionName: string, args: unknown[], value?: bigint) => {
      const hash = await wallet.writeContract({ address: to, abi, functionName, args, value } as never);
      const receipt = await client(0).waitForTransactionReceipt({
        hash,
        pollingInterval: 500,
        timeout: 60_000,
      });
      expect(receipt.status).toBe("success");
      return receipt;
    };
    await send(SYSTEM_CONTRACT_ADDRESSES.modelRegistry, MODEL_REGISTRY_ABI, "registerModel", [
      model.sha256,
      BigInt(model.bytes.length),
      model.name,
      model.inputs.map(onChainTensorSpec),
      model.outputs.map(onChainTensorSpec),
      { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 },
    ]);
    const inputs = seededInputs(model.inputs, 7);
    const input = encodeCanonical(inputs);
    const head = await client(0).getBlock();
    await send(
      SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      TASK_MARKET_ABI,
      "submitTask",
      [
        {
          model: model.sha256,
          inputHash: sha256Hex(input),
          input: `0x${Buffer.from(input).toString("hex")}`,
          maxPrice: 10n * OGPU,
          biddingWindow: 6n,
          executionTimeout: 20n,
          deadline: head.timestamp + 600n,
          committeeSize: 3,
          policy: { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 },
          payment: { kind: 0, verificationFee: OGPU },
        },
      ],
      15n * OGPU,
    );
    const id = await read<bigint>(0, SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, "taskCount");
    type Task = {
      state: number;
      verdict: number;
      provider: Hex;
      committee: Hex[];
      outputCommitment: Hex;
      price: bigint;
    };
    const task = (i: number) =>
      read<Task>(i, SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, "getTask", [id]);
    await until(async () => (await task(0)).state === TaskState.Settled, 120_000, logs);

    const settled = await task(0);
    expect(settled.verdict).toBe(Verdict.Accept);
    // The cheapest bid (node 0's provider, 1 oGPU) won; the committee is the other three.
    const providerOf = (i: number) => deriveDevAccounts(TEST_MNEMONIC, 10)[9 - i].address.toLowerCase();
    expect(settled.provider.toLowerCase()).toBe(providerOf(0));
    expect(settled.price).toBe(OGPU);
    expect(settled.committee.map((a) => a.toLowerCase()).sort()).toEqual([1, 2, 3].map(providerOf).sort());
    // The committed output is the model's real output on the submitted input.
    const runner = new OnnxRunner({ gpu: false, logger: silentLogger() });
    const expected = await runner.run({ sha256: model.sha256, bytes: model.bytes }, inputs);
    await runner.close();
    expect(settled.outputCommitment.toLowerCase()).toBe(expected.commitment);
    // Every node has the output by now or fetches it over p2p; every node agrees on the task.
    const output = await rpc<Hex>(devnet.nodes[2].rpc, "opengpu_getBlob", [settled.outputCommitment]);
    expect(sha256Hex(Buffer.from(output.slice(2), "hex"))).toBe(expected.commitment);
    await until(
      async () =>
        (await Promise.all(devnet.nodes.map((_, i) => task(i)))).every((t) => t.state === TaskState.Settled),
      10_000,
      logs,
    );
  }, 300_000);
});
