/**
 * Read-only access to the compute system contracts at the execution layer's head, for the node's
 * own services (provider agents, JSON-RPC `opengpu_`, REST): typed view calls through the same
 * EVM path as `eth_call`, so what they read is exactly what any client reads through the ABI.
 */
import { createAddressFromString } from "@ethereumjs/util";
import {
  type Abi,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type ContractFunctionReturnType,
  decodeFunctionResult,
  encodeFunctionData,
  type Hex,
  hexToBytes,
} from "viem";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { MODEL_REGISTRY_ABI, type Model } from "../../precompiles/model-registry/index.ts";
import { PROVIDER_REGISTRY_ABI, type ProviderView } from "../../precompiles/provider-registry/index.ts";
import { type Bid, TASK_MARKET_ABI, type Task } from "../../precompiles/task-market/index.ts";
import type { Blockchain } from "../execution/chain/blockchain.ts";
import { executeCall } from "../execution/executor/call.ts";
import { unpackRevert } from "../execution/tracing/call-tracer.ts";
import { OpenGpuError } from "../utils/errors.ts";

export const ComputeErrorCode = {
  /** A view call reverted (unknown task, provider or model, index out of range). */
  NOT_FOUND: "COMPUTE_NOT_FOUND",
  /** A view call failed for another reason. */
  CALL_FAILED: "COMPUTE_CALL_FAILED",
  /** A malformed argument (hash, id, file). */
  INVALID_ARGUMENT: "COMPUTE_INVALID_ARGUMENT",
} as const;
export type ComputeErrorCode = (typeof ComputeErrorCode)[keyof typeof ComputeErrorCode];

export class ComputeError extends OpenGpuError<ComputeErrorCode> {
  override name = "ComputeError";
}

const VIEW_GAS = 50_000_000n;

export class ComputeChainView {
  private readonly chain: Blockchain;

  constructor(chain: Blockchain) {
    this.chain = chain;
  }

  /** Calls view function `fn` of the system contract at `address` on the head state. */
  async read<const A extends Abi, F extends ContractFunctionName<A, "view" | "pure">>(
    address: Hex,
    abi: A,
    fn: F,
    args: ContractFunctionArgs<A, "view" | "pure", F>,
  ): Promise<ContractFunctionReturnType<A, "view" | "pure", F>> {
    const data = encodeFunctionData({ abi, functionName: fn, args } as never);
    const result = await executeCall(
      this.chain,
      { to: createAddressFromString(address), data: hexToBytes(data), gas: VIEW_GAS },
      { header: this.chain.head.header, gasCap: VIEW_GAS, timeoutMs: 5_000 },
    );
    const returned = `0x${Buffer.from(result.returnValue).toString("hex")}` as Hex;
    if (result.error !== undefined) {
      const reason = unpackRevert(result.returnValue) ?? result.error;
      throw new ComputeError(
        result.reverted ? ComputeErrorCode.NOT_FOUND : ComputeErrorCode.CALL_FAILED,
        `${String(fn)}: ${reason}`,
      );
    }
    return decodeFunctionResult({
      abi,
      functionName: fn,
      data: returned,
    } as never) as ContractFunctionReturnType<A, "view" | "pure", F>;
  }

  task(id: bigint): Promise<Task> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, "getTask", [id]);
  }

  bids(id: bigint): Promise<readonly Bid[]> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, "getBids", [id]);
  }

  taskCount(): Promise<bigint> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, "taskCount", []);
  }

  provider(address: Hex): Promise<ProviderView> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.providerRegistry, PROVIDER_REGISTRY_ABI, "getProvider", [
      address,
    ]);
  }

  providerCount(): Promise<bigint> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.providerRegistry, PROVIDER_REGISTRY_ABI, "providerCount", []);
  }

  providerAt(index: bigint): Promise<Hex> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.providerRegistry, PROVIDER_REGISTRY_ABI, "providerAt", [
      index,
    ]);
  }

  model(sha256: Hex): Promise<Model> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.modelRegistry, MODEL_REGISTRY_ABI, "getModel", [sha256]);
  }

  modelCount(): Promise<bigint> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.modelRegistry, MODEL_REGISTRY_ABI, "modelCount", []);
  }

  modelAt(index: bigint): Promise<Hex> {
    return this.read(SYSTEM_CONTRACT_ADDRESSES.modelRegistry, MODEL_REGISTRY_ABI, "modelAt", [index]);
  }
}
