/**
 * The compute runtime: the execution half of the compute layer. Canonical tensors and their
 * committed encoding, `.npy` I/O, verification policies and their on-chain form, ONNX model
 * specs, the ONNX runner with pinned execution profiles and environment fingerprints, the
 * content-addressed model store, and Prometheus metrics. Each file documents its part at the top.
 */
export { ComputeRuntimeError, ComputeRuntimeErrorCode, isClientFault } from "./errors.ts";
export { type ComputeRuntimeMetrics, computeRuntimeMetrics } from "./metrics.ts";
export { checkInputs, type ModelSpec, readModelSpec, type TensorSpec } from "./model-spec.ts";
export {
  type BlobSource,
  DEFAULT_MAX_MODEL_BYTES,
  ModelStore,
  type ModelStoreOptions,
} from "./model-store.ts";
export { parseShape, readNpy, readRawFloat32, writeNpy } from "./npy.ts";
export {
  compare,
  DEFAULT_FLOAT_POLICY,
  defaultPolicyFor,
  EXACT_POLICY,
  encodePolicy,
  INT8_EXACT_POLICY,
  type OnChainPolicy,
  policyFromOnChain,
  policyHash,
  policyToOnChain,
  type Verdict,
  type VerificationPolicy,
  validatePolicy,
} from "./policy.ts";
export {
  CANONICAL_CPU_PROFILE,
  type EnvironmentFingerprint,
  type ExecutionProfile,
  type ExecutionProviderName,
  executionProfile,
  fingerprintHash,
  type GraphOptimizationLevel,
  type ModelBytes,
  type ModelRef,
  OnnxRunner,
  type OnnxRunnerOptions,
  RUNTIME,
  type RunResult,
  sessionOptions,
} from "./runner.ts";
export {
  type CanonicalTensor,
  canonicalHash,
  DTYPE_CODE,
  DTYPES,
  type DType,
  decodeCanonical,
  dtypeOfCode,
  elementCount,
  elementSize,
  encodeCanonical,
  fromOrtTensor,
  type Hex,
  isFloatDType,
  isHex32,
  outputCommitment,
  sha256Hex,
  type TypedTensorData,
  tensorFromValues,
  tensorValues,
  toOrtTensor,
  validateTensor,
} from "./tensor.ts";
