/**
 * ModelRegistry (IModelRegistry.sol), the native system contract at
 * `SYSTEM_CONTRACT_ADDRESSES.modelRegistry`: ONNX models named by the sha256 of their bytes, with
 * their tensor interface and default verification policy. Registration is open to anyone and
 * permanent; a hash registers once.
 */
import { createAddressFromString } from "@ethereumjs/util";
import type { ContractFunctionReturnType } from "viem";
import { SYSTEM_CONTRACT_ADDRESSES } from "../addresses.ts";
import { require } from "../framework/errors.ts";
import { loadAbi, outputParam, storeAbi } from "../framework/records.ts";
import { slotOf } from "../framework/storage.ts";
import { type SystemCall, systemContract } from "../framework/system-call.ts";
import { MODEL_REGISTRY_ABI } from "./abi.ts";

export { MODEL_REGISTRY_ABI };
export const MODEL_REGISTRY = createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.modelRegistry);

export type Model = ContractFunctionReturnType<typeof MODEL_REGISTRY_ABI, "view", "getModel">;
export type TensorSpec = Model["inputs"][number];
export type Policy = Model["policy"];

/** ONNX TensorProto data types a task tensor may have. */
export const DTYPES = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 } as const;
const DTYPE_CODES = new Set<number>(Object.values(DTYPES));
export const POLICY_KINDS = { exact: 0, tolerance: 1, int8Exact: 2 } as const;
/** Largest model the registry accepts (bytes). */
export const MAX_MODEL_SIZE = 4n * 1024n * 1024n * 1024n;
const MAX_TENSORS = 16;
const MAX_RANK = 8;
const MAX_NAME = 128;
const MAX_TOP_K = 64;

const MODEL_PARAM = outputParam(MODEL_REGISTRY_ABI, "getModel");
const record = (hash: `0x${string}`) => slotOf("model.record", hash);
const COUNT = slotOf("model.count");
const at = (i: bigint) => slotOf("model.at", i);

/** Checks a verification policy's encoding; throws a revert reason. */
export function checkPolicy(policy: Policy, what = "policy"): void {
  require(policy.kind === POLICY_KINDS.exact ||
    policy.kind === POLICY_KINDS.tolerance ||
    policy.kind === POLICY_KINDS.int8Exact, `${what}: unknown kind ${policy.kind}`);
  require(policy.topK <= MAX_TOP_K, `${what}: topK above ${MAX_TOP_K}`);
  if (policy.kind === POLICY_KINDS.tolerance) {
    require(policy.rtolPpb > 0 || policy.atolPpb > 0, `${what}: a tolerance policy needs rtol or atol`);
  } else {
    require(policy.rtolPpb === 0 &&
      policy.atolPpb === 0 &&
      policy.topK === 0, `${what}: only a tolerance policy has rtol, atol and topK`);
  }
}

function checkTensors(tensors: readonly TensorSpec[], what: string): void {
  require(tensors.length > 0 && tensors.length <= MAX_TENSORS, `${what}: 1 to ${MAX_TENSORS} tensors`);
  const names = new Set<string>();
  for (const t of tensors) {
    require(t.name.length > 0 &&
      t.name.length <= MAX_NAME, `${what}: tensor names are 1 to ${MAX_NAME} bytes`);
    require(!names.has(t.name), `${what}: duplicate tensor name ${t.name}`);
    names.add(t.name);
    require(DTYPE_CODES.has(t.dtype), `${what}: ${t.name} has unsupported dtype ${t.dtype}`);
    require(t.dims.length <= MAX_RANK, `${what}: ${t.name} has rank above ${MAX_RANK}`);
    for (const d of t.dims)
      require(d === -1n || d > 0n, `${what}: ${t.name} has dimension ${d} (use -1 for dynamic)`);
  }
}

export async function isRegistered(call: SystemCall, hash: `0x${string}`): Promise<boolean> {
  return (await call.load(MODEL_REGISTRY, record(hash))) !== 0n;
}

export async function getModel(call: SystemCall, hash: `0x${string}`): Promise<Model | undefined> {
  return (await loadAbi(call, MODEL_REGISTRY, record(hash), MODEL_PARAM)) as Model | undefined;
}

export const modelRegistryPrecompile = systemContract(
  SYSTEM_CONTRACT_ADDRESSES.modelRegistry,
  MODEL_REGISTRY_ABI,
  {
    async registerModel(call, [sha256, size, name, inputs, outputs, policy]) {
      require(sha256 !== `0x${"00".repeat(32)}`, "model hash is zero");
      require(size > 0n && size <= MAX_MODEL_SIZE, `model size must be 1 byte to ${MAX_MODEL_SIZE} bytes`);
      require(name.length > 0 && name.length <= MAX_NAME, `model name must be 1 to ${MAX_NAME} bytes`);
      checkTensors(inputs, "inputs");
      checkTensors(outputs, "outputs");
      checkPolicy(policy);
      require(!(await isRegistered(call, sha256)), "model already registered");
      const model: Model = {
        sha256,
        size,
        name,
        registrant: call.caller.toString() as `0x${string}`,
        registeredAt: call.block.timestamp,
        inputs,
        outputs,
        policy,
      };
      await storeAbi(call, MODEL_REGISTRY, record(sha256), MODEL_PARAM, model as never);
      const count = await call.load(MODEL_REGISTRY, COUNT);
      await call.store(MODEL_REGISTRY, at(count), BigInt(sha256));
      await call.store(MODEL_REGISTRY, COUNT, count + 1n);
      call.emit(MODEL_REGISTRY, MODEL_REGISTRY_ABI, "ModelRegistered", {
        sha256,
        registrant: model.registrant,
        size,
        name,
      });
    },
    async getModel(call, [sha256]) {
      const model = await getModel(call, sha256);
      require(model !== undefined, "unknown model");
      return model;
    },
    async isRegistered(call, [sha256]) {
      return isRegistered(call, sha256);
    },
    async modelCount(call) {
      return call.load(MODEL_REGISTRY, COUNT);
    },
    async modelAt(call, [index]) {
      require(index < (await call.load(MODEL_REGISTRY, COUNT)), "index out of range");
      return `0x${(await call.load(MODEL_REGISTRY, at(index))).toString(16).padStart(64, "0")}` as `0x${string}`;
    },
  },
);
