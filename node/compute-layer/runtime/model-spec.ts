/**
 * The tensor interface of an ONNX model, read from its bytes, and the check of task inputs
 * against it.
 *
 * The spec comes from the model's protobuf (graph inputs that are not initializers, and graph
 * outputs), not from onnxruntime's session metadata, because the latter cannot tell a rank-0
 * input from one whose shape is undeclared. `dims` uses -1 for a dynamic dimension, as
 * IModelRegistry.TensorSpec does; `dims: null` means the model declares no shape at all (any
 * rank is accepted).
 *
 * API:
 * - types `TensorSpec`, `ModelSpec`
 * - `readModelSpec(bytes: Uint8Array): ModelSpec`: throws MODEL_LOAD_FAILED (not an ONNX model)
 *   or MODEL_UNSUPPORTED (a non-tensor input/output or a dtype without a canonical form)
 * - `checkInputs(spec: ModelSpec, inputs: readonly CanonicalTensor[]): void`: throws INPUT_MISMATCH
 */
import onnxProto from "onnx-proto";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import { type CanonicalTensor, type DType, dtypeOfCode, validateTensor } from "./tensor.ts";

const { onnx } = onnxProto;

export interface TensorSpec {
  name: string;
  dtype: DType;
  /** Declared dims, -1 where dynamic; null when the model declares no shape. */
  dims: number[] | null;
}

export interface ModelSpec {
  irVersion: number;
  /** Opset version of the default ("" / ai.onnx) domain. */
  opset: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

type IntLike = number | { toNumber(): number } | null | undefined;

function toNumber(value: IntLike): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : value.toNumber();
}

function specOf(info: onnxProto.onnx.IValueInfoProto, role: "input" | "output"): TensorSpec {
  const name = info.name ?? "";
  const tensorType = info.type?.tensorType;
  if (tensorType === null || tensorType === undefined)
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_UNSUPPORTED,
      `model ${role} ${JSON.stringify(name)} is not a tensor (sequences, maps and optionals are not supported)`,
      { name },
    );
  const code = toNumber(tensorType.elemType);
  const dtype = dtypeOfCode(code);
  if (dtype === undefined)
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_UNSUPPORTED,
      `model ${role} ${JSON.stringify(name)} has element type ${onnx.TensorProto.DataType[code] ?? code}, ` +
        "which has no canonical form (float32, float64, int8, uint8, int32, int64, bool)",
      { name, elemType: code },
    );
  const shape = tensorType.shape;
  let dims: number[] | null = null;
  if (shape !== null && shape !== undefined) {
    dims = (shape.dim ?? []).map((d) => {
      const dim = d as onnxProto.onnx.TensorShapeProto.Dimension;
      return dim.value === "dimValue" ? toNumber(dim.dimValue) : -1;
    });
  }
  return { name, dtype, dims };
}

/** The tensor interface of the ONNX model in `bytes` (see the top of this file). */
export function readModelSpec(bytes: Uint8Array): ModelSpec {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
      `model bytes are not an ONNX model: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  const graph = model.graph;
  if (graph === null || graph === undefined || (graph.output ?? []).length === 0)
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_LOAD_FAILED,
      "model bytes are not an ONNX model: no graph with outputs",
    );
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ""));
  const opset = (model.opsetImport ?? []).find((o) => (o.domain ?? "") === "" || o.domain === "ai.onnx");
  return {
    irVersion: toNumber(model.irVersion),
    opset: toNumber(opset?.version),
    inputs: (graph.input ?? []).filter((i) => !initializers.has(i.name ?? "")).map((i) => specOf(i, "input")),
    outputs: (graph.output ?? []).map((o) => specOf(o, "output")),
  };
}

function mismatch(message: string, meta: Record<string, unknown> = {}): ComputeRuntimeError {
  return new ComputeRuntimeError(ComputeRuntimeErrorCode.INPUT_MISMATCH, message, meta);
}

/**
 * Checks task inputs against the model's inputs: every input present once, no others, each
 * well-formed, of the declared dtype and rank, and equal to every fixed dimension.
 * Throws ComputeRuntimeError INPUT_MISMATCH (a client fault) with the first problem found.
 */
export function checkInputs(spec: ModelSpec, inputs: readonly CanonicalTensor[]): void {
  const byName = new Map<string, CanonicalTensor>();
  for (const input of inputs) {
    try {
      validateTensor(input);
    } catch (err) {
      throw mismatch(`malformed input: ${(err as Error).message}`, { name: input?.name });
    }
    if (byName.has(input.name)) throw mismatch(`input ${input.name} is given twice`, { name: input.name });
    byName.set(input.name, input);
  }
  const expected = new Set(spec.inputs.map((s) => s.name));
  for (const name of byName.keys())
    if (!expected.has(name))
      throw mismatch(
        `the model has no input ${JSON.stringify(name)} (its inputs: ${[...expected].join(", ")})`,
        {
          name,
        },
      );
  for (const s of spec.inputs) {
    const input = byName.get(s.name);
    if (input === undefined) throw mismatch(`input ${JSON.stringify(s.name)} is missing`, { name: s.name });
    if (input.dtype !== s.dtype)
      throw mismatch(`input ${s.name} is ${input.dtype}, the model takes ${s.dtype}`, { name: s.name });
    if (s.dims === null) continue;
    const want = `[${s.dims.map((d) => (d < 0 ? "?" : String(d))).join(",")}]`;
    if (input.dims.length !== s.dims.length)
      throw mismatch(
        `input ${s.name} has rank ${input.dims.length} [${input.dims.join(",")}], the model takes rank ${s.dims.length} ${want}`,
        { name: s.name },
      );
    s.dims.forEach((d, k) => {
      if (d >= 0 && input.dims[k] !== d)
        throw mismatch(
          `input ${s.name} has dims [${input.dims.join(",")}], the model takes ${want} (axis ${k} must be ${d})`,
          { name: s.name },
        );
    });
  }
}
