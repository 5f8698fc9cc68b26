/**
 * ModelRegistry on a real dev node, called through its ABI with viem: registration, events,
 * reads, and every refusal as a revert with its reason.
 */
import { BaseError, ContractFunctionRevertedError, parseEventLogs } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Clients, clientsFor } from "../../test/compute/clients.ts";
import { type DevNodeHandle, startDevNode } from "../../test/helpers/dev-node.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../addresses.ts";
import { MODEL_REGISTRY_ABI } from "./abi.ts";

const address = SYSTEM_CONTRACT_ADDRESSES.modelRegistry;
const hash = `0x${"ab".repeat(32)}` as const;
const spec = {
  inputs: [{ name: "x", dtype: 1, dims: [-1n, 3n, 48n, 192n] }],
  outputs: [{ name: "y", dtype: 1, dims: [-1n, 2n] }],
  policy: { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 },
};

async function revertReason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BaseError) {
      const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
      if (reverted instanceof ContractFunctionRevertedError) return reverted.reason ?? "(no reason)";
    }
    throw err;
  }
  throw new Error("expected a revert");
}

describe("ModelRegistry precompile", () => {
  let dev: DevNodeHandle;
  let c: Clients;

  beforeAll(async () => {
    dev = await startDevNode({ automine: true });
    c = clientsFor(dev);
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it("registers a model, emits ModelRegistered and serves it back", async () => {
    const wallet = c.wallet(0);
    const tx = await wallet.writeContract({
      address,
      abi: MODEL_REGISTRY_ABI,
      functionName: "registerModel",
      args: [hash, 579_000n, "ppocr-cls", spec.inputs, spec.outputs, spec.policy],
    });
    const receipt = await c.public.waitForTransactionReceipt({ hash: tx });
    expect(receipt.status).toBe("success");
    const [event] = parseEventLogs({ abi: MODEL_REGISTRY_ABI, logs: receipt.logs });
    expect(event.eventName).toBe("ModelRegistered");
    expect(event.address).toBe(address);
    expect(event.args).toEqual({
      sha256: hash,
      registrant: wallet.account.address,
      size: 579_000n,
      name: "ppocr-cls",
    });

    const model = await c.public.readContract({
      address,
      abi: MODEL_REGISTRY_ABI,
      functionName: "getModel",
      args: [hash],
    });
    expect(model.name).toBe("ppocr-cls");
    expect(model.registrant).toBe(wallet.account.address);
    expect(model.inputs).toEqual(spec.inputs);
    expect(model.outputs).toEqual(spec.outputs);
    expect(model.policy).toEqual(spec.policy);
    expect(
      await c.public.readContract({ address, abi: MODEL_REGISTRY_ABI, functionName: "modelCount" }),
    ).toBe(1n);
    expect(
      await c.public.readContract({ address, abi: MODEL_REGISTRY_ABI, functionName: "modelAt", args: [0n] }),
    ).toBe(hash);
    expect(
      await c.public.readContract({
        address,
        abi: MODEL_REGISTRY_ABI,
        functionName: "isRegistered",
        args: [hash],
      }),
    ).toBe(true);
    // The contract's storage is ordinary account storage: visible to eth_getStorageAt / proofs.
    const proof = await c.public.getProof({ address, storageKeys: [] });
    expect(proof.storageHash).not.toBe("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
  });

  it("refuses duplicates, bad specs, value and unknown calls with clear reasons", async () => {
    const simulate = (args: Parameters<typeof register>[0], value?: bigint) => register(args, value);
    const register = (
      a: {
        hash?: `0x${string}`;
        size?: bigint;
        name?: string;
        inputs?: typeof spec.inputs;
        policy?: typeof spec.policy;
      },
      value?: bigint,
    ) =>
      c.public.simulateContract({
        account: c.account(1),
        address,
        abi: MODEL_REGISTRY_ABI,
        functionName: "registerModel",
        args: [
          a.hash ?? hash,
          a.size ?? 1n,
          a.name ?? "m",
          a.inputs ?? spec.inputs,
          spec.outputs,
          a.policy ?? spec.policy,
        ],
        ...(value !== undefined ? { value } : {}),
      } as never);
    expect(await revertReason(simulate({}))).toBe("model already registered");
    const other = `0x${"cd".repeat(32)}` as const;
    expect(await revertReason(simulate({ hash: `0x${"00".repeat(32)}` }))).toBe("model hash is zero");
    expect(await revertReason(simulate({ hash: other, size: 0n }))).toMatch(/model size/);
    expect(await revertReason(simulate({ hash: other, inputs: [{ name: "x", dtype: 5, dims: [] }] }))).toBe(
      "inputs: x has unsupported dtype 5",
    );
    expect(
      await revertReason(simulate({ hash: other, inputs: [{ name: "x", dtype: 1, dims: [0n] }] })),
    ).toMatch(/dimension 0/);
    expect(
      await revertReason(simulate({ hash: other, policy: { kind: 0, rtolPpb: 5, atolPpb: 0, topK: 0 } })),
    ).toBe("policy: only a tolerance policy has rtol, atol and topK");
    expect(await revertReason(simulate({ hash: other }, 1n))).toBe("registerModel is not payable");
    expect(
      await revertReason(
        c.public.readContract({ address, abi: MODEL_REGISTRY_ABI, functionName: "getModel", args: [other] }),
      ),
    ).toBe("unknown model");
    const raw = await dev.rpc("eth_call", [{ to: address, data: "0x12345678" }, "latest"]);
    expect(raw.error?.message).toMatch(/unknown function or malformed calldata/);
  });
});
