/**
 * Canonical tensors of the compute layer and their one canonical byte encoding.
 *
 * A canonical tensor is `{ name, dtype, dims, data }` with `data` the elements in C (row-major)
 * order, little-endian, `bool` as one byte 0 or 1 per element. It is what task inputs and
 * outputs are on the wire, on disk and in commitments, independent of onnxruntime.
 *
 * ## Canonical encoding of a named tensor set (consensus-relevant)
 *
 * The committee attests over `sha256` of these bytes (the output commitment), and a task's
 * `inputHash` is `sha256` of the same encoding of its inputs. All integers little-endian:
 *
 * ```
 * u32          tensor count
 * per tensor, in ascending order of the UTF-8 bytes of the name (bytewise; names unique):
 *   u32        name length in bytes (1..1024)
 *   bytes      name, UTF-8 (well-formed; no lone surrogates)
 *   u8         dtype code, ONNX TensorProto.DataType: 1 float32, 2 uint8, 3 int8, 6 int32,
 *              7 int64, 9 bool, 11 float64
 *   u8         rank r (0..255)
 *   r x u64    dims, each <= 2^53 - 1 (0 allowed)
 *   u64        data length in bytes = product(dims) x element size (bool: 1 byte)
 *   bytes      data: elements in C order, little-endian; bool bytes are 0 or 1
 * ```
 *
 * Nothing else: no padding, no trailing bytes. `decodeCanonical` rejects anything that
 * `encodeCanonical` would not have produced (truncation, trailing bytes, unsorted or duplicate
 * names, unknown dtype codes, length mismatches, bool bytes other than 0/1), so each tensor set
 * has exactly one encoding and the commitment is a function of the tensors. Float bits are
 * committed as they are (NaN payloads and -0 included).
 *
 * API:
 * - types `DType`, `Hex`, `CanonicalTensor`, `TypedTensorData`
 * - `DTYPES`, `DTYPE_CODE`, `dtypeOfCode(code)`, `elementSize(dtype)`, `elementCount(dims)`,
 *   `isFloatDType(dtype)`
 * - `validateTensor(t)`: throws ComputeRuntimeError INVALID_TENSOR
 * - `tensorFromValues(name, dtype, dims, values)`, `tensorValues(t)`: typed-array views
 * - `toOrtTensor(t)`, `fromOrtTensor(name, tensor, { copy? })`: onnxruntime-node Tensor conversions
 * - `encodeCanonical(tensors)`, `decodeCanonical(bytes, { copy? })`
 * - `canonicalHash(tensors)`, `outputCommitment(tensors)`: sha256 of the encoding, 0x-hex
 * - `sha256Hex(bytes)`, `isHex32(value)`
 */
import { hash as digest } from "node:crypto";
import { endianness } from "node:os";
import { Tensor } from "onnxruntime-node";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";

export type DType = "float32" | "float64" | "int8" | "uint8" | "int32" | "int64" | "bool";
/** A 0x-prefixed lowercase hex string. Hashes (sha256, keccak256) are 32 bytes: 0x + 64 digits. */
export type Hex = `0x${string}`;

export interface CanonicalTensor {
  name: string;
  dtype: DType;
  dims: number[];
  /** Elements in C order, little-endian; bool: one byte 0/1 per element. */
  data: Uint8Array;
}

/** Typed-array views of tensor data (bool as Uint8Array of 0/1). */
export type TypedTensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int32Array
  | BigInt64Array;

export const DTYPES: readonly DType[] = ["float32", "float64", "int8", "uint8", "int32", "int64", "bool"];

/** ONNX TensorProto.DataType codes, the dtype byte of the canonical encoding and of IModelRegistry.TensorSpec. */
export const DTYPE_CODE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

const DTYPE_BY_CODE = new Map<number, DType>(DTYPES.map((d) => [DTYPE_CODE[d], d]));
const ELEMENT_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int8: 1,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** Longest tensor name in bytes (UTF-8). */
export const MAX_NAME_BYTES = 1024;
/** Highest rank the encoding carries (u8). */
export const MAX_RANK = 255;

const HOST_LITTLE_ENDIAN = endianness() === "LE";

export function dtypeOfCode(code: number): DType | undefined {
  return DTYPE_BY_CODE.get(code);
}

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (DTYPES as readonly string[]).includes(value);
}

export function elementSize(dtype: DType): number {
  return ELEMENT_SIZE[dtype];
}

export function isFloatDType(dtype: DType): dtype is "float32" | "float64" {
  return dtype === "float32" || dtype === "float64";
}

/** Number of elements of a tensor of these dims (1 for rank 0). Dims must be valid. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function invalid(message: string, meta: Record<string, unknown> = {}): ComputeRuntimeError {
  return new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_TENSOR, message, meta);
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function nameBytes(name: string): Uint8Array {
  if (typeof name !== "string" || name.length === 0) throw invalid("a tensor name is a non-empty string");
  // TextEncoder replaces lone surrogates with U+FFFD; such a name would not round-trip.
  if (LONE_SURROGATE.test(name))
    throw invalid(`tensor name ${JSON.stringify(name)} is not well-formed Unicode`);
  const bytes = encoder.encode(name);
  if (bytes.length > MAX_NAME_BYTES)
    throw invalid(`tensor name is ${bytes.length} bytes, more than ${MAX_NAME_BYTES}`, { name });
  return bytes;
}

/** Checks the shape of a canonical tensor; throws ComputeRuntimeError INVALID_TENSOR. */
export function validateTensor(t: CanonicalTensor): void {
  if (typeof t !== "object" || t === null) throw invalid("a tensor is an object");
  nameBytes(t.name);
  if (!isDType(t.dtype))
    throw invalid(`tensor ${t.name}: unknown dtype ${String(t.dtype)}`, { name: t.name });
  if (!Array.isArray(t.dims) || t.dims.length > MAX_RANK)
    throw invalid(`tensor ${t.name}: dims must be an array of at most ${MAX_RANK} entries`, { name: t.name });
  // A product past 2^53 may lose precision, but it is then larger than any byte length anyway.
  let expected = ELEMENT_SIZE[t.dtype];
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw invalid(`tensor ${t.name}: dim ${String(d)} is not a non-negative integer`, { name: t.name });
    expected *= d;
  }
  if (!(t.data instanceof Uint8Array)) throw invalid(`tensor ${t.name}: data must be a Uint8Array`);
  if (t.data.length !== expected)
    throw invalid(
      `tensor ${t.name}: ${t.dtype} [${t.dims.join(",")}] needs ${expected} data bytes, got ${t.data.length}`,
      { name: t.name },
    );
  if (t.dtype === "bool") {
    for (const b of t.data) if (b > 1) throw invalid(`tensor ${t.name}: bool bytes must be 0 or 1`);
  }
}

function requireLittleEndianHost(): void {
  if (!HOST_LITTLE_ENDIAN) throw invalid("typed-array tensor views need a little-endian host");
}

/** Bytes of `data` as an aligned copy when its offset does not suit `size`-byte elements. */
function aligned(data: Uint8Array, size: number): Uint8Array {
  return data.byteOffset % size === 0 ? data : data.slice();
}

/** A typed-array view of the tensor's elements (shares memory when aligned). Validates the tensor. */
export function tensorValues(t: CanonicalTensor): TypedTensorData {
  validateTensor(t);
  requireLittleEndianHost();
  const n = elementCount(t.dims);
  switch (t.dtype) {
    case "float32": {
      const d = aligned(t.data, 4);
      return new Float32Array(d.buffer, d.byteOffset, n);
    }
    case "float64": {
      const d = aligned(t.data, 8);
      return new Float64Array(d.buffer, d.byteOffset, n);
    }
    case "int32": {
      const d = aligned(t.data, 4);
      return new Int32Array(d.buffer, d.byteOffset, n);
    }
    case "int64": {
      const d = aligned(t.data, 8);
      return new BigInt64Array(d.buffer, d.byteOffset, n);
    }
    case "int8":
      return new Int8Array(t.data.buffer, t.data.byteOffset, n);
    case "uint8":
    case "bool":
      return t.data;
  }
}

function valuesMatch(dtype: DType, values: TypedTensorData): boolean {
  switch (dtype) {
    case "float32":
      return values instanceof Float32Array;
    case "float64":
      return values instanceof Float64Array;
    case "int8":
      return values instanceof Int8Array;
    case "uint8":
    case "bool":
      return values instanceof Uint8Array;
    case "int32":
      return values instanceof Int32Array;
    case "int64":
      return values instanceof BigInt64Array;
  }
}

/**
 * A canonical tensor holding a copy of `values`, which must be the typed array of `dtype`
 * (Float32Array for float32, BigInt64Array for int64, Uint8Array of 0/1 for bool, ...).
 */
export function tensorFromValues(
  name: string,
  dtype: DType,
  dims: readonly number[],
  values: TypedTensorData,
): CanonicalTensor {
  requireLittleEndianHost();
  if (!isDType(dtype)) throw invalid(`tensor ${name}: unknown dtype ${String(dtype)}`);
  if (!valuesMatch(dtype, values))
    throw invalid(`tensor ${name}: ${values.constructor.name} is not the typed array of ${dtype}`);
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  const t: CanonicalTensor = { name, dtype, dims: [...dims], data };
  validateTensor(t);
  return t;
}

/** An onnxruntime-node Tensor with the same dtype, dims and elements (data copied when unaligned). */
export function toOrtTensor(t: CanonicalTensor): Tensor {
  const values = tensorValues(t);
  const dims = [...t.dims];
  switch (t.dtype) {
    case "float32":
      return new Tensor("float32", values as Float32Array, dims);
    case "float64":
      return new Tensor("float64", values as Float64Array, dims);
    case "int8":
      return new Tensor("int8", values as Int8Array, dims);
    case "uint8":
      return new Tensor("uint8", values as Uint8Array, dims);
    case "int32":
      return new Tensor("int32", values as Int32Array, dims);
    case "int64":
      return new Tensor("int64", values as BigInt64Array, dims);
    case "bool":
      return new Tensor("bool", values as Uint8Array, dims);
  }
}

/**
 * The canonical tensor of an onnxruntime-node Tensor: a copy, or with `copy: false` a view of
 * the tensor's data (for a tensor nobody else holds). Throws INVALID_TENSOR for other dtypes.
 */
export function fromOrtTensor(name: string, tensor: Tensor, opts: { copy?: boolean } = {}): CanonicalTensor {
  requireLittleEndianHost();
  const dtype = tensor.type;
  if (!isDType(dtype)) throw invalid(`tensor ${name}: dtype ${dtype} has no canonical form`, { name });
  const values = tensor.data;
  if (!ArrayBuffer.isView(values)) throw invalid(`tensor ${name}: data is not a typed array`, { name });
  const view = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const data = opts.copy === false ? view : view.slice();
  const t: CanonicalTensor = { name, dtype, dims: tensor.dims.map(Number), data };
  validateTensor(t);
  return t;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The canonical encoding (see the top of this file). Throws INVALID_TENSOR for an invalid set. */
export function encodeCanonical(tensors: readonly CanonicalTensor[]): Uint8Array {
  const entries = tensors.map((t) => {
    validateTensor(t);
    return { t, name: nameBytes(t.name) };
  });
  entries.sort((a, b) => compareBytes(a.name, b.name));
  let size = 4;
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && compareBytes(entries[i - 1].name, entries[i].name) === 0)
      throw invalid(`two tensors are named ${entries[i].t.name}`, { name: entries[i].t.name });
    const { t, name } = entries[i];
    size += 4 + name.length + 2 + 8 * t.dims.length + 8 + t.data.length;
  }
  if (entries.length > 0xffffffff) throw invalid("too many tensors");
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  view.setUint32(at, entries.length, true);
  at += 4;
  for (const { t, name } of entries) {
    view.setUint32(at, name.length, true);
    at += 4;
    out.set(name, at);
    at += name.length;
    view.setUint8(at++, DTYPE_CODE[t.dtype]);
    view.setUint8(at++, t.dims.length);
    for (const d of t.dims) {
      view.setBigUint64(at, BigInt(d), true);
      at += 8;
    }
    view.setBigUint64(at, BigInt(t.data.length), true);
    at += 8;
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}

function malformed(message: string, offset: number): ComputeRuntimeError {
  return new ComputeRuntimeError(
    ComputeRuntimeErrorCode.INVALID_ENCODING,
    `invalid canonical tensor encoding at byte ${offset}: ${message}`,
    { offset },
  );
}

/**
 * Decodes a canonical tensor set, strictly: throws ComputeRuntimeError INVALID_ENCODING for
 * anything `encodeCanonical` would not produce. Returned data are copies, or with `copy: false`
 * views of `bytes` (no allocation: for bytes nobody modifies, such as the blob store's; the
 * runner copies unaligned data into reused buffers).
 */
export function decodeCanonical(bytes: Uint8Array, opts: { copy?: boolean } = {}): CanonicalTensor[] {
  const copy = opts.copy ?? true;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (bytes.length - at < n)
      throw malformed(`truncated ${what} (${n} bytes needed, ${bytes.length - at} left)`, at);
  };
  need(4, "tensor count");
  const count = view.getUint32(at, true);
  at += 4;
  const out: CanonicalTensor[] = [];
  let previous: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    need(4, "name length");
    const nameLength = view.getUint32(at, true);
    if (nameLength === 0 || nameLength > MAX_NAME_BYTES)
      throw malformed(`tensor ${i}: name length ${nameLength} outside 1..${MAX_NAME_BYTES}`, at);
    at += 4;
    need(nameLength, "name");
    const rawName = bytes.subarray(at, at + nameLength);
    let name: string;
    try {
      name = strictDecoder.decode(rawName);
    } catch {
      throw malformed(`tensor ${i}: name is not valid UTF-8`, at);
    }
    if (previous !== undefined && compareBytes(previous, rawName) >= 0)
      throw malformed(`tensor ${JSON.stringify(name)} is not in strictly ascending name order`, at);
    previous = rawName;
    at += nameLength;
    need(2, "dtype and rank");
    const code = view.getUint8(at);
    const dtype = dtypeOfCode(code);
    if (dtype === undefined)
      throw malformed(`tensor ${JSON.stringify(name)}: unknown dtype code ${code}`, at);
    const rank = view.getUint8(at + 1);
    at += 2;
    need(8 * rank, "dims");
    const dims: number[] = [];
    let elements = 1n;
    for (let r = 0; r < rank; r++) {
      const d = view.getBigUint64(at, true);
      if (d > BigInt(Number.MAX_SAFE_INTEGER))
        throw malformed(`tensor ${JSON.stringify(name)}: dim ${d} exceeds 2^53 - 1`, at);
      dims.push(Number(d));
      elements *= d;
      at += 8;
    }
    need(8, "data length");
    const length = view.getBigUint64(at, true);
    const expected = elements * BigInt(ELEMENT_SIZE[dtype]);
    if (length !== expected)
      throw malformed(
        `tensor ${JSON.stringify(name)}: data length ${length} but ${dtype} [${dims.join(",")}] is ${expected} bytes`,
        at,
      );
    at += 8;
    if (length > BigInt(bytes.length - at))
      throw malformed(`truncated data of tensor ${JSON.stringify(name)} (${length} bytes needed)`, at);
    const data = copy ? bytes.slice(at, at + Number(length)) : bytes.subarray(at, at + Number(length));
    if (dtype === "bool") {
      for (let k = 0; k < data.length; k++)
        if (data[k] > 1)
          throw malformed(`tensor ${JSON.stringify(name)}: bool byte ${data[k]} is not 0 or 1`, at + k);
    }
    at += data.length;
    out.push({ name, dtype, dims, data });
  }
  if (at !== bytes.length) throw malformed(`${bytes.length - at} trailing bytes`, at);
  return out;
}

/** sha256 of `bytes` as 0x-hex. */
export function sha256Hex(bytes: Uint8Array): Hex {
  // One-shot: no Hash object per call (a small blob's hash costs a fraction of createHash's).
  return `0x${digest("sha256", bytes, "hex")}`;
}

/** Whether `value` is a 32-byte hash in our form: 0x and 64 lowercase hex digits. */
export function isHex32(value: unknown): value is Hex {
  return typeof value === "string" && /^0x[0-9a-f]{64}$/.test(value);
}

/** sha256 of the canonical encoding of `tensors`, 0x-hex (a task's inputHash, a result's commitment). */
export function canonicalHash(tensors: readonly CanonicalTensor[]): Hex {
  return sha256Hex(encodeCanonical(tensors));
}

/** The output commitment the executor publishes and the committee attests over: `canonicalHash(outputs)`. */
export function outputCommitment(tensors: readonly CanonicalTensor[]): Hex {
  return canonicalHash(tensors);
}
