/**
 * Verification policies: how a committee member compares the executor's outputs with its own
 * re-execution (SPEC section 4: exact for integer or quantized outputs, within a tolerance, or
 * agreement on top-k / argmax).
 *
 * Policies:
 * - `{ kind: "exact" }`: bitwise; the output commitments (sha256 of the canonical encodings) are equal.
 * - `{ kind: "int8-exact" }`: bitwise as well, for quantized models (a separate kind so the chain
 *   and the registry can tell a quantized model's policy from an exact float one).
 * - `{ kind: "tolerance", rtol, atol, topK }`: the same output names, dtypes and dims; integer and
 *   bool outputs bitwise equal; for every float output, every element within
 *   `|a - b| <= rtol * |b| + atol * S` with S = max(1, max|b|) (b the reference, max|b| over
 *   the finite elements of that tensor; NaN must meet NaN and an infinity the same infinity);
 *   and when `topK > 0`, for
 *   every float output of rank >= 1, the set of the topK largest entries along the last axis
 *   agrees (topK 1 = argmax). A row is exempt when the gap between its reference k-th and
 *   (k+1)-th largest values is at most the tolerance of the k-th, `rtol * |kth| + atol * S`:
 *   honest noise (<= 5.4e-4 relative measured on each value) can order such a near-tie either
 *   way, so a flip there is no evidence of cheating, and a client cannot craft a near-tie input
 *   to get honest providers slashed. Beyond that gap a flip is a failure even when every
 *   element is within its own tolerance (both moved to the edges of their bounds, in opposite
 *   directions).
 *
 * Why S is floored at 1: float32 kernels leave absolute noise of ~1e-7 on outputs near zero
 * whatever the tensor's magnitude (sigmoid/softmax tails). Measured: the PP-OCRv4 detector on an
 * input with no text (its whole map below 7.1e-4) differs between graph optimization levels
 * 'all' and 'disabled' by 1.5e-7 on elements of 3e-8; with S = max|b| the slack there is 7e-9
 * and an honest provider would be slashed. For tensors with max|b| >= 1 S is max|b|, so atol is
 * relative to the tensor's largest magnitude; below that it is an absolute tolerance.
 *
 * On-chain form (IModelRegistry.Policy / ITaskMarket.Policy): `(uint8 kind, uint32 rtolPpb,
 * uint32 atolPpb, uint8 topK)`, kind 0 exact, 1 tolerance, 2 int8-exact; rtol and atol in parts
 * per billion (1e-9 units); exact kinds carry zeros. `policyHash = keccak256(abi.encode(uint8
 * kind, uint32 rtolPpb, uint32 atolPpb, uint8 topK))`: four 32-byte big-endian words, each value
 * left-padded with zeros (128 bytes), hashed with Keccak-256.
 *
 * API:
 * - types `VerificationPolicy`, `OnChainPolicy`, `Verdict`
 * - `DEFAULT_FLOAT_POLICY`, `EXACT_POLICY`, `INT8_EXACT_POLICY`, `defaultPolicyFor(outputs)`
 * - `validatePolicy(p): VerificationPolicy` (normalized to whole ppb; throws INVALID_POLICY)
 * - `policyToOnChain(p)`, `policyFromOnChain(p)`, `encodePolicy(p): Uint8Array`, `policyHash(p): Hex`
 * - `compare(policy, reference, candidate): Verdict`
 */
import { keccak256 } from "ethereum-cryptography/keccak";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "./errors.ts";
import {
  type CanonicalTensor,
  canonicalHash,
  type DType,
  type Hex,
  isFloatDType,
  tensorValues,
  validateTensor,
} from "./tensor.ts";

export type VerificationPolicy =
  | { kind: "exact" }
  | { kind: "tolerance"; rtol: number; atol: number; topK: number }
  | { kind: "int8-exact" };

export interface OnChainPolicy {
  /** 0 exact, 1 tolerance, 2 int8-exact. */
  kind: number;
  rtolPpb: number;
  atolPpb: number;
  topK: number;
}

export interface Verdict {
  /** Whether the candidate is right under the policy. */
  ok: boolean;
  /** Why not, for logs and operators (absent when ok). */
  reason?: string;
  /** Name of the first output that failed, when one did. */
  tensor?: string;
  /** Largest |a - b| over the float outputs (0 when there are none or the structures differ). */
  maxAbsErr: number;
  /** Largest |a - b| / |b| over float elements with b != 0. */
  maxRelErr: number;
}

/**
 * Default policy for float models. MODELS.md measured honest differences up to 1.6e-4 relative
 * (graph optimization level) and 5.4e-4 relative (another kernel implementation), while a
 * dishonest change (GELU -> tanh approximation) moves outputs by >= 1e-2 relative: rtol 1e-3
 * leaves ~2x headroom over honest noise and sits 10x below cheating. atol 1e-5 (scaled by the
 * tensor's max|b|, floored at 1) absorbs noise on elements near zero, where relative error is
 * meaningless.
 * Argmax agreement (topK 1) checks the task-level answer, which agreed 100% in every honest
 * comparison measured.
 */
export const DEFAULT_FLOAT_POLICY: VerificationPolicy = Object.freeze({
  kind: "tolerance",
  rtol: 1e-3,
  atol: 1e-5,
  topK: 1,
});
export const EXACT_POLICY: VerificationPolicy = Object.freeze({ kind: "exact" });
export const INT8_EXACT_POLICY: VerificationPolicy = Object.freeze({ kind: "int8-exact" });

const KIND_CODE = { exact: 0, tolerance: 1, "int8-exact": 2 } as const;
const PPB = 1e9;
const U32_MAX = 0xffffffff;

function badPolicy(message: string): ComputeRuntimeError {
  return new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_POLICY, message);
}

function toPpb(value: number, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw badPolicy(`${what} must be a finite number >= 0, got ${String(value)}`);
  const scaled = value * PPB;
  const ppb = Math.round(scaled);
  if (Math.abs(scaled - ppb) > 1e-6 * Math.max(1, ppb))
    throw badPolicy(`${what} ${value} is not a whole number of parts per billion`);
  if (ppb > U32_MAX) throw badPolicy(`${what} ${value} exceeds ${U32_MAX / PPB} (uint32 parts per billion)`);
  return ppb;
}

/** The policy with rtol/atol rounded to whole ppb, as the chain holds it. Throws INVALID_POLICY. */
export function validatePolicy(p: VerificationPolicy): VerificationPolicy {
  return policyFromOnChain(policyToOnChain(p));
}

export function policyToOnChain(p: VerificationPolicy): OnChainPolicy {
  switch (p?.kind) {
    case "exact":
    case "int8-exact":
      return { kind: KIND_CODE[p.kind], rtolPpb: 0, atolPpb: 0, topK: 0 };
    case "tolerance": {
      if (!Number.isInteger(p.topK) || p.topK < 0 || p.topK > 255)
        throw badPolicy(`topK must be an integer 0..255, got ${String(p.topK)}`);
      return { kind: 1, rtolPpb: toPpb(p.rtol, "rtol"), atolPpb: toPpb(p.atol, "atol"), topK: p.topK };
    }
    default:
      throw badPolicy(`unknown policy kind ${String((p as { kind?: unknown })?.kind)}`);
  }
}

export function policyFromOnChain(p: OnChainPolicy): VerificationPolicy {
  const ints: [string, number, number][] = [
    ["kind", p.kind, 255],
    ["rtolPpb", p.rtolPpb, U32_MAX],
    ["atolPpb", p.atolPpb, U32_MAX],
    ["topK", p.topK, 255],
  ];
  for (const [name, v, max] of ints)
    if (!Number.isInteger(v) || v < 0 || v > max) throw badPolicy(`${name} must be an integer 0..${max}`);
  switch (p.kind) {
    case 0:
    case 2:
      if (p.rtolPpb !== 0 || p.atolPpb !== 0 || p.topK !== 0)
        throw badPolicy("an exact policy carries rtolPpb = atolPpb = topK = 0");
      return p.kind === 0 ? { kind: "exact" } : { kind: "int8-exact" };
    case 1:
      return { kind: "tolerance", rtol: p.rtolPpb / PPB, atol: p.atolPpb / PPB, topK: p.topK };
    default:
      throw badPolicy(`unknown policy kind code ${p.kind} (0 exact, 1 tolerance, 2 int8-exact)`);
  }
}

/** abi.encode(uint8 kind, uint32 rtolPpb, uint32 atolPpb, uint8 topK): 128 bytes. */
export function encodePolicy(p: VerificationPolicy): Uint8Array {
  const c = policyToOnChain(p);
  const out = new Uint8Array(128);
  const view = new DataView(out.buffer);
  [c.kind, c.rtolPpb, c.atolPpb, c.topK].forEach((v, i) => {
    view.setUint32(i * 32 + 28, v, false);
  });
  return out;
}

/** keccak256(abi.encode(uint8, uint32, uint32, uint8)) of the policy, 0x-hex. */
export function policyHash(p: VerificationPolicy): Hex {
  return `0x${Buffer.from(keccak256(encodePolicy(p))).toString("hex")}`;
}

const INTEGER_OUTPUT: ReadonlySet<DType> = new Set(["int8", "uint8", "int32", "int64", "bool"]);

/** The policy a model registers by default: exact when every output is an integer or bool tensor, else DEFAULT_FLOAT_POLICY. */
export function defaultPolicyFor(outputs: readonly { dtype: DType }[]): VerificationPolicy {
  return outputs.length > 0 && outputs.every((o) => INTEGER_OUTPUT.has(o.dtype))
    ? EXACT_POLICY
    : DEFAULT_FLOAT_POLICY;
}

interface Stats {
  maxAbsErr: number;
  maxRelErr: number;
}

function fail(reason: string, stats: Stats, tensor?: string): Verdict {
  return { ok: false, reason, ...(tensor === undefined ? {} : { tensor }), ...stats };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function validSet(tensors: readonly CanonicalTensor[], role: string): Map<string, CanonicalTensor> | string {
  const byName = new Map<string, CanonicalTensor>();
  for (const t of tensors) {
    try {
      validateTensor(t);
    } catch (err) {
      return `${role} output is malformed: ${(err as Error).message}`;
    }
    if (byName.has(t.name)) return `${role} has two outputs named ${t.name}`;
    byName.set(t.name, t);
  }
  return byName;
}

type FloatView = Float32Array | Float64Array;

/** Elementwise stats, the first element out of tolerance (index, or -1) and S = max(1, max|b|). */
function checkElements(
  a: FloatView,
  b: FloatView,
  rtol: number,
  atol: number,
  stats: Stats,
): { bad: number; scale: number } {
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    const m = Math.abs(b[i]);
    if (m > scale && Number.isFinite(m)) scale = m;
  }
  const absSlack = atol * scale;
  let bad = -1;
  for (let i = 0; i < b.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Number.isNaN(y) || Number.isNaN(x)) {
      if (!(Number.isNaN(x) && Number.isNaN(y)) && bad < 0) bad = i;
      continue;
    }
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      if (x !== y && bad < 0) bad = i;
      continue;
    }
    const diff = Math.abs(x - y);
    if (diff > stats.maxAbsErr) stats.maxAbsErr = diff;
    if (y !== 0) {
      const rel = diff / Math.abs(y);
      if (rel > stats.maxRelErr) stats.maxRelErr = rel;
    }
    if (diff > rtol * Math.abs(y) + absSlack && bad < 0) bad = i;
  }
  return { bad, scale };
}

/**
 * Indices of the k largest values of `row` (NaN ranks lowest, ties go to the lower index), with
 * the k-th and (k+1)-th largest values. O(n * k): keeps the best k + 1 by insertion.
 */
function topIndices(row: FloatView, k: number): { set: Set<number>; kth: number; next: number } {
  const keep = Math.min(k + 1, row.length);
  const best: number[] = [];
  const value = (i: number): number => (Number.isNaN(row[i]) ? Number.NEGATIVE_INFINITY : row[i]);
  for (let i = 0; i < row.length; i++) {
    const v = value(i);
    if (best.length === keep && v <= value(best[keep - 1])) continue;
    let at = best.length < keep ? best.length : keep - 1;
    while (at > 0 && v > value(best[at - 1])) at--;
    best.splice(at, 0, i);
    if (best.length > keep) best.pop();
  }
  const kk = Math.min(k, row.length);
  return {
    set: new Set(best.slice(0, kk)),
    kth: value(best[kk - 1]),
    next: kk < best.length ? value(best[kk]) : Number.NEGATIVE_INFINITY,
  };
}

/** First row (leading index) whose top-k set disagrees, ignoring near-ties; -1 when all agree. */
function checkTopK(
  a: FloatView,
  b: FloatView,
  dims: readonly number[],
  k: number,
  rtol: number,
  absSlack: number,
): number {
  const width = dims[dims.length - 1];
  if (width === 0) return -1;
  const rows = b.length / width;
  for (let r = 0; r < rows; r++) {
    const refRow = b.subarray(r * width, (r + 1) * width);
    const candRow = a.subarray(r * width, (r + 1) * width);
    const ref = topIndices(refRow, k);
    if (ref.set.size === width) continue;
    const gap = ref.kth - ref.next;
    if (!(gap > rtol * Math.abs(ref.kth) + absSlack)) continue;
    const cand = topIndices(candRow, k);
    for (const i of ref.set) if (!cand.set.has(i)) return r;
  }
  return -1;
}

/**
 * Compares the executor's outputs (`candidate`) with this node's re-execution (`reference`)
 * under `policy`. Never throws for a bad candidate (that is a failing verdict); throws
 * INVALID_POLICY for a bad policy and INVALID_TENSOR for a malformed reference.
 */
export function compare(
  policy: VerificationPolicy,
  reference: readonly CanonicalTensor[],
  candidate: readonly CanonicalTensor[],
): Verdict {
  const p = validatePolicy(policy);
  const refSet = validSet(reference, "reference");
  if (typeof refSet === "string")
    throw new ComputeRuntimeError(ComputeRuntimeErrorCode.INVALID_TENSOR, refSet);
  const stats: Stats = { maxAbsErr: 0, maxRelErr: 0 };
  const candSet = validSet(candidate, "candidate");
  if (typeof candSet === "string") return fail(candSet, stats);
  const refNames = [...refSet.keys()].sort().join(", ");
  const candNames = [...candSet.keys()].sort().join(", ");
  if (refNames !== candNames) return fail(`outputs are [${candNames}], expected [${refNames}]`, stats);
  for (const [name, ref] of refSet) {
    const cand = candSet.get(name)!;
    if (cand.dtype !== ref.dtype)
      return fail(`output ${name} is ${cand.dtype}, expected ${ref.dtype}`, stats, name);
    if (cand.dims.join(",") !== ref.dims.join(",") || cand.dims.length !== ref.dims.length)
      return fail(`output ${name} has dims [${cand.dims}], expected [${ref.dims}]`, stats, name);
  }

  if (p.kind === "exact" || p.kind === "int8-exact") {
    let firstDiff: string | undefined;
    for (const [name, ref] of refSet) {
      const cand = candSet.get(name)!;
      if (isFloatDType(ref.dtype))
        checkElements(tensorValues(cand) as FloatView, tensorValues(ref) as FloatView, 0, 0, stats);
      if (firstDiff === undefined && !bytesEqual(cand.data, ref.data)) firstDiff = name;
    }
    const refCommitment = canonicalHash(reference);
    const candCommitment = canonicalHash(candidate);
    if (refCommitment === candCommitment) return { ok: true, ...stats };
    return fail(
      `output commitment ${candCommitment} differs from ${refCommitment} (first differing output: ${firstDiff})`,
      stats,
      firstDiff,
    );
  }

  let failure: Verdict | undefined;
  for (const [name, ref] of [...refSet].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const cand = candSet.get(name)!;
    if (!isFloatDType(ref.dtype)) {
      if (!bytesEqual(cand.data, ref.data) && failure === undefined)
        failure = fail(`integer output ${name} differs (integer outputs must match exactly)`, stats, name);
      continue;
    }
    const a = tensorValues(cand) as FloatView;
    const b = tensorValues(ref) as FloatView;
    const { bad, scale } = checkElements(a, b, p.rtol, p.atol, stats);
    if (bad >= 0 && failure === undefined)
      failure = fail(
        `output ${name}[${bad}] = ${a[bad]}, reference ${b[bad]}: beyond |a-b| <= ${p.rtol}*|b| + ${p.atol}*${scale} (max(1, max|b|))`,
        stats,
        name,
      );
    if (p.topK > 0 && ref.dims.length >= 1 && failure === undefined) {
      const row = checkTopK(a, b, ref.dims, p.topK, p.rtol, p.atol * scale);
      if (row >= 0)
        failure = fail(
          `output ${name} row ${row}: top-${p.topK} along the last axis disagrees with the reference`,
          stats,
          name,
        );
    }
  }
  if (failure !== undefined) return { ...failure, ...stats };
  return { ok: true, ...stats };
}
