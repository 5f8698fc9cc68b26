/**
 * NumPy `.npy` files and raw float32 buffers as canonical tensors (task inputs from the CLI,
 * outputs for people to inspect with NumPy).
 *
 * `.npy` (format versions 1.0, 2.0 and 3.0): magic `\x93NUMPY`, major, minor, header length
 * (u16 LE in 1.0, u32 LE in 2.0/3.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 48, 192), }` padded with spaces and
 * ended by `\n`, then the data. Supported dtypes (little-endian or byte-sized, as NumPy writes
 * them): `<f4 <f8 |i1 |u1 <i4 <i8 |b1`. Refused with INVALID_NPY and a message that says why:
 * Fortran order, big-endian, object and every other dtype, a malformed header, truncated data,
 * and bytes after the data. `writeNpy` writes what NumPy 2's `np.save` writes, byte for byte:
 * version 1.0 (2.0 for headers over 65535 bytes), room for the first axis to grow to 21 digits,
 * and the header padded so the data starts at a multiple of 64.
 *
 * API:
 * - `readNpy(bytes: Uint8Array, name: string): CanonicalTensor`
 * - `writeNpy(tensor: CanonicalTensor): Uint8Array`
 * - `readRawFloat32(bytes: Uint8Array, dims: readonly number[], name: string): CanonicalTensor`
 * - `parseShape(text: string): number[]` (`"1,3,48,192"`, the `--input-shape` option)
 */
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import { type CanonicalTensor, type DType, elementSize, validateTensor } from "./tensor.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

const DESCR_TO_DTYPE: Readonly<Record<string, DType>> = {
  "<f4": "float32",
  "<f8": "float64",
  "|i1": "int8",
  "|u1": "uint8",
  "<i4": "int32",
  "<i8": "int64",
  "|b1": "bool",
};
const DTYPE_TO_DESCR: Readonly<Record<DType, string>> = {
  float32: "<f4",
  float64: "<f8",
  int8: "|i1",
  uint8: "|u1",
  int32: "<i4",
  int64: "<i8",
  bool: "|b1",
};

function bad(message: string): ComputeRuntimeError {
  return new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_NPY, message);
}

type PyValue = string | boolean | number[];

/** Parses the header dict: string keys; values are strings, True/False, or tuples of integers. */
function parseHeaderDict(text: string): Map<string, PyValue> {
  let i = 0;
  const skip = (): void => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r"))
      i++;
  };
  const expect = (ch: string): void => {
    skip();
    if (text[i] !== ch)
      throw bad(`malformed .npy header: expected '${ch}' at ${i} in ${JSON.stringify(text)}`);
    i++;
  };
  const readString = (): string => {
    skip();
    const quote = text[i];
    if (quote !== "'" && quote !== '"') throw bad(`malformed .npy header: expected a string at ${i}`);
    const end = text.indexOf(quote, i + 1);
    if (end < 0) throw bad("malformed .npy header: unterminated string");
    const value = text.slice(i + 1, end);
    if (value.includes("\\")) throw bad("malformed .npy header: escapes in strings are not supported");
    i = end + 1;
    return value;
  };
  const readInt = (): number => {
    skip();
    const match = /^[0-9]+L?/.exec(text.slice(i));
    if (match === null) throw bad(`malformed .npy header: expected an integer at ${i}`);
    i += match[0].length;
    const value = Number(match[0].replace("L", ""));
    if (!Number.isSafeInteger(value)) throw bad(`.npy shape dimension ${match[0]} is too large`);
    return value;
  };
  const readValue = (): PyValue => {
    skip();
    if (text[i] === "'" || text[i] === '"') return readString();
    if (text.startsWith("True", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("False", i)) {
      i += 5;
      return false;
    }
    if (text[i] === "(") {
      i++;
      const items: number[] = [];
      skip();
      while (text[i] !== ")") {
        items.push(readInt());
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== ")") throw bad(`malformed .npy header: expected ',' or ')' at ${i}`);
        skip();
      }
      i++;
      return items;
    }
    throw bad(`malformed .npy header: unsupported value at ${i} in ${JSON.stringify(text)}`);
  };
  const out = new Map<string, PyValue>();
  expect("{");
  skip();
  while (text[i] !== "}") {
    const key = readString();
    expect(":");
    if (out.has(key)) throw bad(`malformed .npy header: key '${key}' twice`);
    out.set(key, readValue());
    skip();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw bad(`malformed .npy header: expected ',' or '}' at ${i}`);
    skip();
    if (i >= text.length) throw bad("malformed .npy header: unterminated dict");
  }
  i++;
  skip();
  if (i !== text.length) throw bad("malformed .npy header: text after the dict");
  return out;
}

function dtypeOfDescr(descr: string): DType {
  const dtype = DESCR_TO_DTYPE[descr];
  if (dtype !== undefined) return dtype;
  if (descr.startsWith(">"))
    throw bad(`.npy dtype ${descr} is big-endian; only little-endian data is supported`);
  if (descr.includes("O"))
    throw bad(`.npy dtype ${descr} is an object dtype; only numeric arrays are supported`);
  throw bad(`.npy dtype ${descr} is not supported (supported: ${Object.keys(DESCR_TO_DTYPE).join(" ")})`);
}

/** Reads a `.npy` file as the canonical tensor `name`. Throws ComputeRuntimeError INVALID_NPY. */
export function readNpy(bytes: Uint8Array, name: string): CanonicalTensor {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) throw bad("not a .npy file (bad magic)");
  const major = bytes[6];
  const minor = bytes[7];
  if (minor !== 0 || (major !== 1 && major !== 2 && major !== 3))
    throw bad(`.npy format version ${major}.${minor} is not supported (1.0, 2.0, 3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else {
    if (bytes.length < 12) throw bad("truncated .npy header length");
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  }
  if (headerStart + headerLength > bytes.length) throw bad("truncated .npy header");
  const rawHeader = bytes.subarray(headerStart, headerStart + headerLength);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(rawHeader);
    } catch {
      throw bad(".npy 3.0 header is not valid UTF-8");
    }
  } else {
    text = new TextDecoder("latin1").decode(rawHeader);
  }
  if (!text.endsWith("\n")) throw bad("malformed .npy header: it does not end with a newline");
  const header = parseHeaderDict(text);
  const keys = [...header.keys()].sort().join(",");
  if (keys !== "descr,fortran_order,shape")
    throw bad(`malformed .npy header: keys are ${keys}, expected descr, fortran_order, shape`);
  const descr = header.get("descr");
  const fortran = header.get("fortran_order");
  const shape = header.get("shape");
  if (typeof descr !== "string") throw bad("malformed .npy header: descr is not a string");
  if (typeof fortran !== "boolean") throw bad("malformed .npy header: fortran_order is not True or False");
  if (!Array.isArray(shape)) throw bad("malformed .npy header: shape is not a tuple");
  if (fortran)
    throw bad(".npy array is in Fortran order; only C order is supported (use np.ascontiguousarray)");
  const dtype = dtypeOfDescr(descr);
  const dataStart = headerStart + headerLength;
  let needed = BigInt(elementSize(dtype));
  for (const d of shape) needed *= BigInt(d);
  const available = BigInt(bytes.length - dataStart);
  if (available < needed)
    throw bad(
      `truncated .npy data: shape (${shape.join(", ")}) ${descr} needs ${needed} bytes, ${available} present`,
    );
  if (available > needed) throw bad(`.npy file has ${available - needed} bytes after the array data`);
  const tensor: CanonicalTensor = { name, dtype, dims: shape, data: bytes.slice(dataStart) };
  if (dtype === "bool" && tensor.data.some((b) => b > 1))
    throw bad(".npy bool data holds bytes other than 0 and 1");
  try {
    validateTensor(tensor);
  } catch (err) {
    throw bad(`.npy array is not a valid tensor: ${(err as Error).message}`);
  }
  return tensor;
}

/** Writes `tensor` as a `.npy` file (C order, little-endian, version 1.0 or 2.0). */
export function writeNpy(tensor: CanonicalTensor): Uint8Array {
  validateTensor(tensor);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(", ")})`;
  // NumPy reserves room for the first axis to grow to 21 digits (np.save in append workflows).
  const growth = tensor.dims.length > 0 ? " ".repeat(Math.max(0, 21 - String(tensor.dims[0]).length)) : "";
  const dict = `{'descr': '${DTYPE_TO_DESCR[tensor.dtype]}', 'fortran_order': False, 'shape': ${shape}, }${growth}`;
  let prefix = 10;
  let padded = dict.length + 1;
  padded += (ALIGN - ((prefix + padded) % ALIGN)) % ALIGN;
  let major = 1;
  if (padded > 0xffff) {
    major = 2;
    prefix = 12;
    padded = dict.length + 1;
    padded += (ALIGN - ((prefix + padded) % ALIGN)) % ALIGN;
  }
  const header = `${dict}${" ".repeat(padded - dict.length - 1)}\n`;
  const out = new Uint8Array(prefix + padded + tensor.data.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(tensor.data, prefix + padded);
  return out;
}

/** Parses a shape such as `1,3,48,192` (non-negative integers, comma separated; empty text = rank 0). */
export function parseShape(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  return trimmed.split(",").map((part) => {
    const p = part.trim();
    if (!/^[0-9]+$/.test(p))
      throw bad(`shape ${JSON.stringify(text)}: ${JSON.stringify(p)} is not a dimension`);
    const d = Number(p);
    if (!Number.isSafeInteger(d)) throw bad(`shape ${JSON.stringify(text)}: dimension ${p} is too large`);
    return d;
  });
}

/** Raw little-endian float32 bytes with an explicit shape as the canonical tensor `name`. */
export function readRawFloat32(bytes: Uint8Array, dims: readonly number[], name: string): CanonicalTensor {
  for (const d of dims)
    if (!Number.isSafeInteger(d) || d < 0)
      throw bad(`raw float32 shape has an invalid dimension ${String(d)}`);
  let needed = 4n;
  for (const d of dims) needed *= BigInt(d);
  if (BigInt(bytes.length) !== needed)
    throw bad(
      `raw float32 input of shape [${dims.join(",")}] needs ${needed} bytes, got ${bytes.length}` +
        (bytes.length % 4 === 0 ? ` (${bytes.length / 4} floats)` : " (not a whole number of floats)"),
    );
  const tensor: CanonicalTensor = { name, dtype: "float32", dims: [...dims], data: bytes.slice() };
  validateTensor(tensor);
  return tensor;
}
