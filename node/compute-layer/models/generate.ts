/**
 * Small ONNX models generated in code (with `onnx-proto`) and deterministic weights, for tests,
 * benchmarks and a dev chain's model registry. The same options give the same bytes (and so the
 * same sha256) on every machine: weights come from a seeded 32-bit PRNG through IEEE arithmetic
 * only (no transcendental functions), and protobuf encoding is deterministic.
 *
 * Models (IR version 8, opset 17, dynamic batch dimension "N"):
 * - `mlpModel`: `x` f32 [N,16] -> Gemm(16x32) -> Relu -> MatMul(32x10) + bias -> `logits` f32
 *   [N,10] and Softmax -> `probs` f32 [N,10].
 * - `transformerModel`: one single-head encoder block on `x` f32 [N,8,16]: Q/K/V projections,
 *   softmax(Q K^T / 4) V attention, output projection, residual + LayerNormalization, GELU MLP
 *   (16 -> 64 -> 16; GELU via Erf, or with `gelu: "tanh"` the tanh approximation, a dishonest
 *   variant for tests), residual + LayerNormalization -> `hidden` f32 [N,8,16]; mean over the
 *   sequence and a 16 -> 4 head -> `logits` f32 [N,4].
 * - `int8Model`: `x` u8 [N,16] -> MatMulInteger with int8 7-bit weights (zero points 128 and 0)
 *   -> `acc` i32 [N,8], and DequantizeLinear (one multiply by a float scale) -> `y` f32 [N,8].
 *   Integer accumulation is exact, so outputs are bitwise reproducible everywhere.
 *
 * API:
 * - type `GeneratedModel` `{ name, bytes, sha256, inputs: TensorSpec[], outputs: TensorSpec[] }`
 * - `mlpModel(opts?)`, `transformerModel(opts?)`, `int8Model(opts?)`
 * - `SeededRandom` (splitmix32), `seededInputs(specs, seed, dynamicDim?)`
 */
import onnxProto from "onnx-proto";
import type { TensorSpec } from "../runtime/model-spec.ts";
import { type CanonicalTensor, type DType, elementCount, type Hex, sha256Hex } from "../runtime/tensor.ts";

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

export interface GeneratedModel {
  name: string;
  bytes: Uint8Array;
  sha256: Hex;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** A splitmix32 generator: 32-bit state, deterministic on every platform. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** Uniform in [lo, hi), rounded to float32. */
  uniform(lo: number, hi: number): number {
    return Math.fround(lo + (hi - lo) * (this.nextU32() / 4294967296));
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.nextU32() % (hi - lo + 1));
  }
}

const ONNX_TYPE: Readonly<Record<DType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** Collects nodes and initializers; names intermediate values v0, v1, ... */
class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private counter = 0;
  private readonly rng: SeededRandom;

  constructor(seed: number) {
    this.rng = new SeededRandom(seed);
  }

  private initializer(name: string, dtype: DType, dims: number[], raw: Uint8Array): string {
    this.initializers.push({ name, dataType: ONNX_TYPE[dtype], dims, rawData: raw });
    return name;
  }

  floats(name: string, dims: number[], values: readonly number[]): string {
    const data = Float32Array.from(values);
    return this.initializer(name, "float32", dims, new Uint8Array(data.buffer));
  }

  /** float32 weights uniform in [-bound, bound). */
  weights(name: string, dims: number[], bound: number): string {
    const values = Array.from({ length: elementCount(dims) }, () => this.rng.uniform(-bound, bound));
    return this.floats(name, dims, values);
  }

  scalar(name: string, value: number): string {
    return this.floats(name, [], [value]);
  }

  int8s(name: string, dims: number[], lo: number, hi: number): string {
    const data = Int8Array.from({ length: elementCount(dims) }, () => this.rng.int(lo, hi));
    return this.initializer(name, "int8", dims, new Uint8Array(data.buffer));
  }

  uint8Scalar(name: string, value: number): string {
    return this.initializer(name, "uint8", [], Uint8Array.of(value));
  }

  int8Scalar(name: string, value: number): string {
    return this.initializer(name, "int8", [], new Uint8Array(Int8Array.of(value).buffer));
  }

  node(opType: string, inputs: string[], attributes: IAttributeProto[] = [], output?: string): string {
    const out = output ?? `v${this.counter++}`;
    this.nodes.push({
      opType,
      input: inputs,
      output: [out],
      name: `${opType}_${this.nodes.length}`,
      attribute: attributes,
    });
    return out;
  }
}

function intAttr(name: string, value: number): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function intsAttr(name: string, values: number[]): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function floatAttr(name: string, value: number): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

function valueInfo(spec: TensorSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: spec.name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[spec.dtype],
        shape: { dim: (spec.dims ?? []).map((d) => (d < 0 ? { dimParam: "N" } : { dimValue: d })) },
      },
    },
  };
}

function finish(name: string, b: GraphBuilder, inputs: TensorSpec[], outputs: TensorSpec[]): GeneratedModel {
  const encoded = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "opengpu-models",
    producerVersion: "1",
    graph: {
      name,
      node: b.nodes,
      initializer: b.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    },
  }).finish();
  // protobufjs hands out a Buffer (often a slice of a shared pool): copy into a plain Uint8Array.
  const bytes = new Uint8Array(encoded);
  return { name, bytes, sha256: sha256Hex(bytes), inputs, outputs };
}

/** Dense layer `x W + b` (MatMul then Add, so it broadcasts over leading dims). */
function dense(b: GraphBuilder, x: string, prefix: string, fanIn: number, fanOut: number, gain = 1): string {
  const bound = gain / Math.sqrt(fanIn);
  const w = b.weights(`${prefix}.weight`, [fanIn, fanOut], bound);
  const bias = b.weights(`${prefix}.bias`, [fanOut], bound);
  return b.node("Add", [b.node("MatMul", [x, w]), bias]);
}

/** Float MLP (see the top of this file). */
export function mlpModel(opts: { seed?: number } = {}): GeneratedModel {
  const b = new GraphBuilder(opts.seed ?? 0x6d6c70);
  const w1 = b.weights("fc1.weight", [16, 32], 1 / Math.sqrt(16));
  const b1 = b.weights("fc1.bias", [32], 1 / Math.sqrt(16));
  const h = b.node("Relu", [b.node("Gemm", ["x", w1, b1])]);
  const logits = dense(b, h, "fc2", 32, 10);
  b.node("Identity", [logits], [], "logits");
  b.node("Softmax", [logits], [intAttr("axis", -1)], "probs");
  return finish(
    "mlp",
    b,
    [{ name: "x", dtype: "float32", dims: [-1, 16] }],
    [
      { name: "logits", dtype: "float32", dims: [-1, 10] },
      { name: "probs", dtype: "float32", dims: [-1, 10] },
    ],
  );
}

const SEQ = 8;
const DIM = 16;
const FFN = 64;
const CLASSES = 4;

function gelu(b: GraphBuilder, h: string, variant: "erf" | "tanh"): string {
  const half = b.scalar(`gelu.half.${h}`, 0.5);
  const one = b.scalar(`gelu.one.${h}`, 1);
  if (variant === "erf") {
    const sqrt2 = b.scalar(`gelu.sqrt2.${h}`, Math.SQRT2);
    const erf = b.node("Erf", [b.node("Div", [h, sqrt2])]);
    return b.node("Mul", [b.node("Mul", [h, half]), b.node("Add", [erf, one])]);
  }
  const c = b.scalar(`gelu.c.${h}`, Math.sqrt(2 / Math.PI));
  const k = b.scalar(`gelu.k.${h}`, 0.044715);
  const cube = b.node("Mul", [b.node("Mul", [h, h]), h]);
  const inner = b.node("Mul", [b.node("Add", [h, b.node("Mul", [cube, k])]), c]);
  return b.node("Mul", [b.node("Mul", [h, half]), b.node("Add", [b.node("Tanh", [inner]), one])]);
}

function layerNorm(b: GraphBuilder, x: string, prefix: string): string {
  const gamma = b.floats(
    `${prefix}.gamma`,
    [DIM],
    Array.from({ length: DIM }, (_, i) => 1 + (i % 4) / 8),
  );
  const beta = b.floats(
    `${prefix}.beta`,
    [DIM],
    Array.from({ length: DIM }, (_, i) => ((i % 5) - 2) / 16),
  );
  return b.node("LayerNormalization", [x, gamma, beta], [intAttr("axis", -1), floatAttr("epsilon", 1e-5)]);
}

/** Tiny transformer encoder block (see the top of this file). */
export function transformerModel(opts: { seed?: number; gelu?: "erf" | "tanh" } = {}): GeneratedModel {
  const b = new GraphBuilder(opts.seed ?? 0x7472616e);
  const q = dense(b, "x", "attn.q", DIM, DIM);
  const k = dense(b, "x", "attn.k", DIM, DIM);
  const v = dense(b, "x", "attn.v", DIM, DIM);
  const kT = b.node("Transpose", [k], [intsAttr("perm", [0, 2, 1])]);
  const scores = b.node("Mul", [b.node("MatMul", [q, kT]), b.scalar("attn.scale", 1 / Math.sqrt(DIM))]);
  const weights = b.node("Softmax", [scores], [intAttr("axis", -1)]);
  const context = b.node("MatMul", [weights, v]);
  const attn = dense(b, context, "attn.out", DIM, DIM);
  const norm1 = layerNorm(b, b.node("Add", ["x", attn]), "ln1");
  const h = dense(b, norm1, "ffn.up", DIM, FFN, 2);
  const ffn = dense(b, gelu(b, h, opts.gelu ?? "erf"), "ffn.down", FFN, DIM);
  const hidden = layerNorm(b, b.node("Add", [norm1, ffn]), "ln2");
  b.node("Identity", [hidden], [], "hidden");
  const pooled = b.node("ReduceMean", [hidden], [intsAttr("axes", [1]), intAttr("keepdims", 0)]);
  const logits = dense(b, pooled, "head", DIM, CLASSES);
  b.node("Identity", [logits], [], "logits");
  return finish(
    opts.gelu === "tanh" ? "transformer-gelu-tanh" : "transformer",
    b,
    [{ name: "x", dtype: "float32", dims: [-1, SEQ, DIM] }],
    [
      { name: "hidden", dtype: "float32", dims: [-1, SEQ, DIM] },
      { name: "logits", dtype: "float32", dims: [-1, CLASSES] },
    ],
  );
}

/** int8 quantized layer (see the top of this file). */
export function int8Model(opts: { seed?: number } = {}): GeneratedModel {
  const b = new GraphBuilder(opts.seed ?? 0x696e74);
  // 7-bit weights: u8 x s8 products cannot saturate the 16-bit pair sums of non-VNNI AVX2 kernels.
  const w = b.int8s("fc.weight", [16, 8], -63, 63);
  const acc = b.node(
    "MatMulInteger",
    ["x", w, b.uint8Scalar("x.zero_point", 128), b.int8Scalar("fc.zero_point", 0)],
    [],
    "acc",
  );
  b.node("DequantizeLinear", [acc, b.scalar("acc.scale", 1 / 4096)], [], "y");
  return finish(
    "int8-mlp",
    b,
    [{ name: "x", dtype: "uint8", dims: [-1, 16] }],
    [
      { name: "acc", dtype: "int32", dims: [-1, 8] },
      { name: "y", dtype: "float32", dims: [-1, 8] },
    ],
  );
}

/**
 * Deterministic inputs for `specs`: dynamic (-1) dims become `dynamicDim`; floats uniform in
 * [-1, 1), integers over their range (int32/int64 in [-1000, 1000]), bools 0/1.
 */
export function seededInputs(specs: readonly TensorSpec[], seed: number, dynamicDim = 1): CanonicalTensor[] {
  const rng = new SeededRandom(seed);
  return specs.map((s) => {
    const dims = (s.dims ?? []).map((d) => (d < 0 ? dynamicDim : d));
    const n = elementCount(dims);
    let values: ArrayBufferView;
    switch (s.dtype) {
      case "float32":
        values = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
        break;
      case "float64":
        values = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
        break;
      case "int8":
        values = Int8Array.from({ length: n }, () => rng.int(-128, 127));
        break;
      case "uint8":
        values = Uint8Array.from({ length: n }, () => rng.int(0, 255));
        break;
      case "bool":
        values = Uint8Array.from({ length: n }, () => rng.int(0, 1));
        break;
      case "int32":
        values = Int32Array.from({ length: n }, () => rng.int(0, 2000) - 1000);
        break;
      case "int64":
        values = BigInt64Array.from({ length: n }, () => BigInt(rng.int(0, 2000) - 1000));
        break;
    }
    return {
      name: s.name,
      dtype: s.dtype,
      dims,
      data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice(),
    };
  });
}
