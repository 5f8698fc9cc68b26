import { describe, expect, it } from "vitest";
import { ComputeRuntimeErrorCode } from "./errors.ts";
import {
  type CanonicalTensor,
  canonicalHash,
  DTYPES,
  type DType,
  decodeCanonical,
  encodeCanonical,
  fromOrtTensor,
  outputCommitment,
  sha256Hex,
  type TypedTensorData,
  tensorFromValues,
  tensorValues,
  toOrtTensor,
} from "./tensor.ts";

function sample(dtype: DType, name: string, dims: number[]): CanonicalTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  let values: TypedTensorData;
  switch (dtype) {
    case "float32":
      values = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 1);
      break;
    case "float64":
      values = Float64Array.from({ length: n }, (_, i) => i / 3);
      break;
    case "int8":
      values = Int8Array.from({ length: n }, (_, i) => (i % 256) - 128);
      break;
    case "uint8":
      values = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256);
      break;
    case "int32":
      values = Int32Array.from({ length: n }, (_, i) => i * 100_000 - 7);
      break;
    case "int64":
      values = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 10n ** 15n - 3n);
      break;
    case "bool":
      values = Uint8Array.from({ length: n }, (_, i) => i % 2);
      break;
  }
  return tensorFromValues(name, dtype, dims, values);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

describe("canonical encoding", () => {
  it("has exactly the documented byte layout", () => {
    const t: CanonicalTensor = {
      name: "y",
      dtype: "float32",
      dims: [1, 2],
      data: new Uint8Array(new Float32Array([1, -2]).buffer),
    };
    const b: CanonicalTensor = { name: "a", dtype: "bool", dims: [], data: Uint8Array.of(1) };
    expect(hex(encodeCanonical([t, b]))).toBe(
      [
        "02000000", // two tensors
        "01000000", // name length 1
        "61", // "a" (sorted first)
        "09", // bool
        "00", // rank 0
        "0100000000000000", // 1 data byte
        "01",
        "01000000",
        "79", // "y"
        "01", // float32
        "02", // rank 2
        "0100000000000000",
        "0200000000000000",
        "0800000000000000", // 8 data bytes
        "0000803f", // 1.0f LE
        "000000c0", // -2.0f LE
      ].join(""),
    );
    expect(outputCommitment([t, b])).toBe(sha256Hex(encodeCanonical([b, t])));
    expect(outputCommitment([t, b])).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("round-trips every dtype, rank 0, empty dims and non-ASCII names, independent of input order", () => {
    const tensors = [
      ...DTYPES.map((d, i) => sample(d, `out_${d}`, [2, i + 1, 3])),
      sample("float32", "scalar", []),
      sample("int64", "empty", [0, 5]),
      sample("uint8", "résumé✓", [4]),
      sample("int8", "Z", [1]),
    ];
    const bytes = encodeCanonical(tensors);
    const decoded = decodeCanonical(bytes);
    const sorted = [...tensors].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    expect(decoded).toEqual(sorted);
    expect(decoded.map((t) => t.name)[0]).toBe("Z");
    expect(encodeCanonical(decoded)).toEqual(bytes);
    expect(canonicalHash([...tensors].reverse())).toBe(canonicalHash(tensors));
    expect(decodeCanonical(encodeCanonical([]))).toEqual([]);
    // Copies by default; views of the bytes with copy: false.
    expect(decoded.every((t) => t.data.buffer !== bytes.buffer)).toBe(true);
    const views = decodeCanonical(bytes, { copy: false });
    expect(views).toEqual(sorted);
    expect(views.every((t) => t.data.buffer === bytes.buffer)).toBe(true);
  });

  it("orders names by UTF-8 bytes, not UTF-16 code units", () => {
    // U+1F600 sorts first by UTF-16 code units (0xD83D < 0xFF61) but last by UTF-8 bytes (0xF0 > 0xEF).
    const astral = sample("uint8", "\u{1F600}", [1]);
    const bmp = sample("uint8", "\uFF61", [1]);
    expect(decodeCanonical(encodeCanonical([astral, bmp])).map((t) => t.name)).toEqual([
      "\uFF61",
      "\u{1F600}",
    ]);
  });

  it("rejects every truncation and trailing bytes", () => {
    const bytes = encodeCanonical([sample("float32", "x", [2, 3]), sample("int64", "y", [2])]);
    for (let n = 0; n < bytes.length; n++)
      expect(() => decodeCanonical(bytes.subarray(0, n)), `prefix ${n}`).toThrow(
        expect.objectContaining({ code: ComputeRuntimeErrorCode.INVALID_ENCODING }),
      );
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeCanonical(longer)).toThrow(/1 trailing bytes/);
  });

  it("rejects unknown dtypes, bad lengths, unsorted or duplicate names, bad bools and bad UTF-8", () => {
    const one = encodeCanonical([sample("float32", "x", [2])]);
    // layout: count(4) nameLen(4) "x"(1) dtype@9 rank@10 dim@11..18 len@19..26 data@27
    const withByte = (offset: number, value: number): Uint8Array => {
      const b = one.slice();
      b[offset] = value;
      return b;
    };
    expect(() => decodeCanonical(withByte(9, 10))).toThrow(/unknown dtype code 10/); // float16
    expect(() => decodeCanonical(withByte(9, 0))).toThrow(/unknown dtype code 0/);
    expect(() => decodeCanonical(withByte(19, 12))).toThrow(/data length 12 but float32 \[2\] is 8 bytes/);
    expect(() => decodeCanonical(withByte(11, 3))).toThrow(/data length 8 but float32 \[3\] is 12 bytes/);
    expect(() => decodeCanonical(withByte(4, 0))).toThrow(/name length 0/);
    expect(() => decodeCanonical(withByte(8, 0xff))).toThrow(/not valid UTF-8/);
    const huge = one.slice();
    new DataView(huge.buffer).setBigUint64(11, 2n ** 60n, true);
    expect(() => decodeCanonical(huge)).toThrow(/exceeds 2\^53 - 1/);

    const a = encodeCanonical([sample("uint8", "a", [1])]).subarray(4);
    const b = encodeCanonical([sample("uint8", "b", [1])]).subarray(4);
    const set = (...parts: Uint8Array[]): Uint8Array => {
      const out = new Uint8Array(4 + parts.reduce((n, p) => n + p.length, 0));
      new DataView(out.buffer).setUint32(0, parts.length, true);
      let at = 4;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    };
    expect(decodeCanonical(set(a, b)).map((t) => t.name)).toEqual(["a", "b"]);
    expect(() => decodeCanonical(set(b, a))).toThrow(/strictly ascending/);
    expect(() => decodeCanonical(set(a, a))).toThrow(/strictly ascending/);

    const flag = encodeCanonical([sample("bool", "f", [1])]);
    flag[flag.length - 1] = 2;
    expect(() => decodeCanonical(flag)).toThrow(/bool byte 2/);
  });

  it("refuses to encode malformed tensors", () => {
    const bad = (t: CanonicalTensor) =>
      expect(() => encodeCanonical([t])).toThrow(
        expect.objectContaining({ code: ComputeRuntimeErrorCode.INVALID_TENSOR }),
      );
    bad({ name: "x", dtype: "float32", dims: [3], data: new Uint8Array(8) });
    bad({ name: "", dtype: "float32", dims: [0], data: new Uint8Array(0) });
    bad({ name: "\uD800", dtype: "uint8", dims: [0], data: new Uint8Array(0) });
    bad({ name: "x", dtype: "float16" as DType, dims: [1], data: new Uint8Array(2) });
    bad({ name: "x", dtype: "int32", dims: [-1], data: new Uint8Array(0) });
    bad({ name: "x", dtype: "int32", dims: [1.5], data: new Uint8Array(6) });
    bad({ name: "x", dtype: "bool", dims: [1], data: Uint8Array.of(3) });
    expect(() => encodeCanonical([sample("uint8", "x", [1]), sample("int8", "x", [1])])).toThrow(
      /two tensors are named x/,
    );
  });
});

describe("onnxruntime tensor conversion", () => {
  it("round-trips every dtype through ort.Tensor", () => {
    for (const dtype of DTYPES) {
      const t = sample(dtype, "v", [2, 3]);
      const ort = toOrtTensor(t);
      expect(ort.type).toBe(dtype);
      expect(ort.dims).toEqual([2, 3]);
      expect(fromOrtTensor("v", ort)).toEqual(t);
    }
  });

  it("reads values from unaligned data and refuses the wrong typed array", () => {
    const backing = new Uint8Array(9);
    const data = backing.subarray(1);
    new DataView(data.buffer, 1).setFloat32(0, 1.5, true);
    new DataView(data.buffer, 1).setFloat32(4, -3, true);
    const t: CanonicalTensor = { name: "u", dtype: "float32", dims: [2], data };
    expect(Array.from(tensorValues(t) as Float32Array)).toEqual([1.5, -3]);
    expect(Array.from(toOrtTensor(t).data as Float32Array)).toEqual([1.5, -3]);
    expect(() => tensorFromValues("x", "float32", [2], new Float64Array(2))).toThrow(
      /not the typed array of float32/,
    );
    expect(() => tensorFromValues("x", "int64", [3], new BigInt64Array(2))).toThrow(
      /needs 24 data bytes, got 16/,
    );
  });
});
