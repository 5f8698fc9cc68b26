/** Conversions between the runtime's model descriptions and the system contracts' ABI structs. */
import type { TensorSpec as OnChainTensorSpec, Policy } from "../../precompiles/model-registry/index.ts";
import type { TensorSpec } from "./runtime/model-spec.ts";
import { policyToOnChain, type VerificationPolicy } from "./runtime/policy.ts";
import { DTYPE_CODE } from "./runtime/tensor.ts";

/** A tensor spec as IModelRegistry.TensorSpec (ONNX dtype code, -1 for dynamic dimensions). */
export function onChainTensorSpec(spec: TensorSpec): OnChainTensorSpec {
  return { name: spec.name, dtype: DTYPE_CODE[spec.dtype], dims: (spec.dims ?? []).map((d) => BigInt(d)) };
}

/** A verification policy as IModelRegistry.Policy / ITaskMarket.Policy. */
export function onChainPolicy(policy: VerificationPolicy): Policy {
  return policyToOnChain(policy);
}
