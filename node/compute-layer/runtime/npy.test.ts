import { describe, expect, it } from "vitest";
import { ComputeRuntimeErrorCode } from "./errors.ts";
import { parseShape, readNpy, readRawFloat32, writeNpy } from "./npy.ts";
import { type CanonicalTensor, DTYPES, elementSize, tensorFromValues, tensorValues } from "./tensor.ts";

// Written by NumPy 2.4.6: np.save(np.arange(6, dtype='<f4').reshape(2, 3)), np.save(np.array([True,
// False, True])), np.save(np.array(7, dtype='<i8')), format.write_array(..., version=(2, 0)) of
// int32 [1, 2, 3] and version=(3, 0) of uint8 [1, 2, 3].
const NUMPY = {
  f4: "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000803f0000004000004040000080400000a040",
  b1: "934e554d5059010076007b276465736372273a20277c6231272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a010001",
  i8: "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0700000000000000",
  v2: "934e554d50590200740000007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a010000000200000003000000",
  v3: "934e554d50590300740000007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a010203",
};

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** A version 1.0 file with the given header dict and data (header padded to 64 like NumPy). */
function npyWith(dict: string, data: Uint8Array): Uint8Array {
  let header = `${dict} `;
  while ((10 + header.length + 1) % 64 !== 0) header += " ";
  header += "\n";
  const out = new Uint8Array(10 + header.length + data.length);
  out.set(fromHex("934e554d50590100"));
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

describe(".npy", () => {
  it("reads files NumPy wrote (versions 1.0, 2.0, 3.0) and writes the same bytes back", () => {
    const f4 = readNpy(fromHex(NUMPY.f4), "x");
    expect(f4.dtype).toBe("float32");
    expect(f4.dims).toEqual([2, 3]);
    expect(Array.from(tensorValues(f4) as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Buffer.from(writeNpy(f4)).toString("hex")).toBe(NUMPY.f4);

    const b1 = readNpy(fromHex(NUMPY.b1), "mask");
    expect(b1).toMatchObject({ dtype: "bool", dims: [3] });
    expect(Array.from(b1.data)).toEqual([1, 0, 1]);
    expect(Buffer.from(writeNpy(b1)).toString("hex")).toBe(NUMPY.b1);

    const i8 = readNpy(fromHex(NUMPY.i8), "n");
    expect(i8).toMatchObject({ dtype: "int64", dims: [] });
    expect(Array.from(tensorValues(i8) as BigInt64Array)).toEqual([7n]);
    expect(Buffer.from(writeNpy(i8)).toString("hex")).toBe(NUMPY.i8);

    expect(Array.from(tensorValues(readNpy(fromHex(NUMPY.v2), "v")) as Int32Array)).toEqual([1, 2, 3]);
    expect(readNpy(fromHex(NUMPY.v3), "v")).toMatchObject({
      dtype: "uint8",
      dims: [3],
      data: Uint8Array.of(1, 2, 3),
    });
  });

  it("round-trips every supported dtype and shape", () => {
    for (const dtype of DTYPES)
      for (const dims of [[], [0], [5], [2, 3, 4]]) {
        const n = dims.reduce((a, b) => a * b, 1);
        const bytes = new Uint8Array(n * elementSize(dtype));
        for (let i = 0; i < bytes.length; i++) bytes[i] = dtype === "bool" ? i % 2 : (i * 37) % 256;
        const t: CanonicalTensor = { name: "t", dtype, dims, data: bytes };
        const file = writeNpy(t);
        expect((file.length - t.data.length) % 64).toBe(0);
        expect(readNpy(file, "t")).toEqual(t);
      }
  });

  it("rejects Fortran order, big-endian, object and other dtypes, bad headers, truncation and trailing bytes", () => {
    const four = new Uint8Array(16);
    const reject = (bytes: Uint8Array, message: RegExp) =>
      expect(() => readNpy(bytes, "x")).toThrow(
        expect.objectContaining({
          code: ComputeRuntimeErrorCode.INVALID_NPY,
          message: expect.stringMatching(message),
        }),
      );
    reject(npyWith("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four), /Fortran order/);
    reject(npyWith("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four), /big-endian/);
    reject(npyWith("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", four), /object dtype/);
    reject(
      npyWith("{'descr': '<f2', 'fortran_order': False, 'shape': (8,), }", four),
      /<f2 is not supported/,
    );
    reject(
      npyWith("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four),
      /<c8 is not supported/,
    );
    reject(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", four), /truncated .npy data/);
    reject(
      npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", four),
      /4 bytes after the array data/,
    );
    reject(npyWith("{'descr': '<f4', 'shape': (4,), }", four), /keys are descr,shape/);
    reject(
      npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", four),
      /unsupported value/,
    );
    reject(
      npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four),
      /expected an integer/,
    );
    reject(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", four), /unsupported value/);
    reject(
      npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", four),
      /expected ',' or '}'|unterminated/,
    );
    reject(fromHex("934e554d5059"), /bad magic/);
    reject(fromHex("00000000000000000000"), /bad magic/);
    const v4 = fromHex(NUMPY.f4);
    v4[6] = 4;
    reject(v4, /version 4.0 is not supported/);
    const short = fromHex(NUMPY.f4);
    reject(short.subarray(0, 60), /truncated .npy header/);
    reject(short.subarray(0, short.length - 1), /truncated .npy data/);
  });
});

describe("raw float32", () => {
  it("parses --input-shape and reads raw little-endian float32 with it", () => {
    expect(parseShape("1,3,48,192")).toEqual([1, 3, 48, 192]);
    expect(parseShape(" 2, 3 ")).toEqual([2, 3]);
    expect(parseShape("")).toEqual([]);
    for (const bad of ["1,,2", "1,-3", "1.5", "a", "1,2,"])
      expect(() => parseShape(bad)).toThrow(
        expect.objectContaining({ code: ComputeRuntimeErrorCode.INVALID_NPY }),
      );
    const values = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    const raw = new Uint8Array(values.buffer);
    const t = readRawFloat32(raw, parseShape("2,3"), "x");
    expect(t).toEqual(tensorFromValues("x", "float32", [2, 3], values));
    expect(() => readRawFloat32(raw, [2, 4], "x")).toThrow(/needs 32 bytes, got 24 \(6 floats\)/);
    expect(() => readRawFloat32(raw.subarray(0, 23), [2, 3], "x")).toThrow(/not a whole number of floats/);
  });
});
