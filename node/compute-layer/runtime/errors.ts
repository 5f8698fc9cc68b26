/**
 * Typed errors of the compute runtime: canonical tensors and their byte encoding, `.npy` files,
 * verification policies, ONNX model specs, the model store and the ONNX runner.
 *
 * The chain slashes a client whose task cannot run (SPEC section 4: "a task that cannot run
 * anywhere"); `isClientFault` tells which codes mean that, so a provider or committee member
 * answers `InvalidTask` for exactly those and nothing else. A client fault is a property of the
 * model bytes and the input alone: every honest node reaches the same code for the same task.
 *
 * API:
 * - `ComputeRuntimeErrorCode`, `ComputeRuntimeError` (extends OpenGpuError, `err.code`)
 * - `isClientFault(err: unknown): boolean`
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const ComputeRuntimeErrorCode = {
  /** A canonical tensor is malformed: unknown dtype, bad dims, data length not dims x element size, bad name, non-0/1 bool. */
  INVALID_TENSOR: "COMPUTE_INVALID_TENSOR",
  /** Bytes are not a valid canonical tensor-set encoding (truncated, trailing bytes, unsorted names, bad lengths). */
  INVALID_ENCODING: "COMPUTE_INVALID_ENCODING",
  /** A `.npy` file or a raw float32 buffer cannot be read (bad header, unsupported dtype or order, truncated). */
  INVALID_NPY: "COMPUTE_INVALID_NPY",
  /** A verification policy is out of range or not representable on chain. */
  INVALID_POLICY: "COMPUTE_INVALID_POLICY",
  /** (Client fault) the inputs do not match the model's declared inputs: names, dtypes, ranks, fixed dims, or malformed. */
  INPUT_MISMATCH: "COMPUTE_INPUT_MISMATCH",
  /** (Client fault) the model bytes are not a loadable ONNX model (protobuf parse or runtime load failure). */
  MODEL_LOAD_FAILED: "COMPUTE_MODEL_LOAD_FAILED",
  /** (Client fault) the model loads but declares inputs or outputs this runtime cannot carry (non-tensor, float16, string). */
  MODEL_UNSUPPORTED: "COMPUTE_MODEL_UNSUPPORTED",
  /** The model bytes do not hash to the sha256 they are named by (a storage or transport fault, not the client's). */
  MODEL_HASH_MISMATCH: "COMPUTE_MODEL_HASH_MISMATCH",
  /** A stored model no longer hashes to its name (disk corruption or tampering). */
  MODEL_CORRUPT: "COMPUTE_MODEL_CORRUPT",
  /** The model is larger than the store accepts. */
  MODEL_TOO_LARGE: "COMPUTE_MODEL_TOO_LARGE",
  /** The model is not in the store and no source could provide it. */
  MODEL_NOT_FOUND: "COMPUTE_MODEL_NOT_FOUND",
  /** The runtime failed while running a loaded model on valid inputs. */
  EXECUTION_FAILED: "COMPUTE_EXECUTION_FAILED",
  /** A sha256 or hash argument is not 0x followed by 64 lowercase hex digits. */
  INVALID_ARGUMENT: "COMPUTE_INVALID_ARGUMENT",
  /** The runner was closed. */
  CLOSED: "COMPUTE_CLOSED",
} as const;
export type ComputeRuntimeErrorCode = (typeof ComputeRuntimeErrorCode)[keyof typeof ComputeRuntimeErrorCode];

export class ComputeRuntimeError extends OpenGpuError<ComputeRuntimeErrorCode> {
  override name = "ComputeRuntimeError";
}

const CLIENT_FAULTS: ReadonlySet<string> = new Set([
  ComputeRuntimeErrorCode.INPUT_MISMATCH,
  ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
  ComputeRuntimeErrorCode.MODEL_UNSUPPORTED,
]);

/**
 * Whether `err` means the task itself cannot run (its model or input is bad), so the client is
 * at fault and the committee verdict is `InvalidTask`. Everything else (hash mismatches,
 * corrupt local files, runtime failures, any other thrown value) is not the client's fault.
 */
export function isClientFault(err: unknown): boolean {
  return err instanceof ComputeRuntimeError && CLIENT_FAULTS.has(err.code);
}
