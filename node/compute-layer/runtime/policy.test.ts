import { encodeAbiParameters, keccak256 } from "viem";
import { describe, expect, it } from "vitest";
import { ComputeRuntimeErrorCode } from "./errors.ts";
import {
  compare,
  DEFAULT_FLOAT_POLICY,
  defaultPolicyFor,
  EXACT_POLICY,
  encodePolicy,
  INT8_EXACT_POLICY,
  policyFromOnChain,
  policyHash,
  policyToOnChain,
  type VerificationPolicy,
  validatePolicy,
} from "./policy.ts";
import { type CanonicalTensor, tensorFromValues } from "./tensor.ts";

const f32 = (name: string, dims: number[], values: number[]): CanonicalTensor =>
  tensorFromValues(name, "float32", dims, Float32Array.from(values));
const i32 = (name: string, dims: number[], values: number[]): CanonicalTensor =>
  tensorFromValues(name, "int32", dims, Int32Array.from(values));

const TOL: VerificationPolicy = { kind: "tolerance", rtol: 1e-3, atol: 1e-5, topK: 0 };

describe("policy encoding", () => {
  it("encodes (uint8, uint32, uint32, uint8) exactly as abi.encode and hashes it with keccak256", () => {
    const policies: VerificationPolicy[] = [
      DEFAULT_FLOAT_POLICY,
      EXACT_POLICY,
      INT8_EXACT_POLICY,
      { kind: "tolerance", rtol: 4.294967295, atol: 0, topK: 255 },
    ];
    for (const p of policies) {
      const c = policyToOnChain(p);
      const abi = encodeAbiParameters(
        [{ type: "uint8" }, { type: "uint32" }, { type: "uint32" }, { type: "uint8" }],
        [c.kind, c.rtolPpb, c.atolPpb, c.topK],
      );
      expect(`0x${Buffer.from(encodePolicy(p)).toString("hex")}`).toBe(abi);
      expect(policyHash(p)).toBe(keccak256(abi));
      expect(policyFromOnChain(c)).toEqual(validatePolicy(p));
    }
    expect(policyToOnChain(DEFAULT_FLOAT_POLICY)).toEqual({
      kind: 1,
      rtolPpb: 1_000_000,
      atolPpb: 10_000,
      topK: 1,
    });
    expect(policyToOnChain(EXACT_POLICY)).toEqual({ kind: 0, rtolPpb: 0, atolPpb: 0, topK: 0 });
    expect(policyToOnChain(INT8_EXACT_POLICY)).toEqual({ kind: 2, rtolPpb: 0, atolPpb: 0, topK: 0 });
    expect(policyHash(EXACT_POLICY)).not.toBe(policyHash(INT8_EXACT_POLICY));
  });

  it("rejects policies the chain cannot hold", () => {
    const bad = (p: VerificationPolicy, message: RegExp) =>
      expect(() => policyToOnChain(p)).toThrow(
        expect.objectContaining({
          code: ComputeRuntimeErrorCode.INVALID_POLICY,
          message: expect.stringMatching(message),
        }),
      );
    bad({ kind: "tolerance", rtol: -1e-3, atol: 0, topK: 1 }, /rtol must be a finite number >= 0/);
    bad({ kind: "tolerance", rtol: Number.NaN, atol: 0, topK: 1 }, /rtol must be/);
    bad({ kind: "tolerance", rtol: 1e-3, atol: 1.5e-10, topK: 1 }, /not a whole number of parts per billion/);
    bad({ kind: "tolerance", rtol: 5, atol: 0, topK: 1 }, /exceeds/);
    bad({ kind: "tolerance", rtol: 1e-3, atol: 0, topK: 256 }, /topK must be an integer 0..255/);
    bad({ kind: "median" } as unknown as VerificationPolicy, /unknown policy kind median/);
    expect(() => policyFromOnChain({ kind: 3, rtolPpb: 0, atolPpb: 0, topK: 0 })).toThrow(
      /unknown policy kind code 3/,
    );
    expect(() => policyFromOnChain({ kind: 0, rtolPpb: 1, atolPpb: 0, topK: 0 })).toThrow(
      /exact policy carries/,
    );
    expect(() => policyFromOnChain({ kind: 1, rtolPpb: 2 ** 32, atolPpb: 0, topK: 0 })).toThrow(
      /rtolPpb must be/,
    );
  });

  it("picks exact for integer-only outputs and the float default otherwise", () => {
    expect(defaultPolicyFor([{ dtype: "int32" }, { dtype: "bool" }])).toEqual(EXACT_POLICY);
    expect(defaultPolicyFor([{ dtype: "int32" }, { dtype: "float32" }])).toEqual(DEFAULT_FLOAT_POLICY);
  });
});

describe("compare", () => {
  const ref = [f32("y", [2, 3], [1, -2, 0.5, 100, 0, -3]), i32("n", [2], [7, 9])];
  const nudge = (delta: (v: number, i: number) => number) => [
    f32(
      "y",
      [2, 3],
      [1, -2, 0.5, 100, 0, -3].map((v, i) => v + delta(v, i)),
    ),
    i32("n", [2], [7, 9]),
  ];

  it("exact: bitwise, with error figures when it fails", () => {
    expect(compare(EXACT_POLICY, ref, [...ref].reverse())).toEqual({ ok: true, maxAbsErr: 0, maxRelErr: 0 });
    const off = compare(
      EXACT_POLICY,
      ref,
      nudge((_, i) => (i === 3 ? 0.0078125 : 0)),
    );
    expect(off).toMatchObject({ ok: false, tensor: "y", maxAbsErr: 0.0078125 });
    expect(off.reason).toMatch(/output commitment 0x[0-9a-f]{64} differs/);
    expect(compare(INT8_EXACT_POLICY, ref, ref).ok).toBe(true);
  });

  it("tolerance: accepts rtol*|b| + atol*max(1, max|b|), rejects beyond", () => {
    // slack at element 0 (b = 1): 1e-3 * 1 + 1e-5 * 100 = 2e-3; at element 4 (b = 0): 1e-3.
    expect(
      compare(
        TOL,
        ref,
        nudge((_, i) => (i === 0 ? 1.9e-3 : 0)),
      ).ok,
    ).toBe(true);
    const beyond = compare(
      TOL,
      ref,
      nudge((_, i) => (i === 0 ? 2.1e-3 : 0)),
    );
    expect(beyond).toMatchObject({ ok: false, tensor: "y" });
    expect(beyond.reason).toMatch(/output y\[0\]/);
    expect(
      compare(
        TOL,
        ref,
        nudge((_, i) => (i === 4 ? 0.9e-3 : 0)),
      ).ok,
    ).toBe(true);
    expect(
      compare(
        TOL,
        ref,
        nudge((_, i) => (i === 4 ? 1.1e-3 : 0)),
      ).ok,
    ).toBe(false);
    const scaled = compare(
      TOL,
      ref,
      nudge((v) => v * 0.0005),
    );
    expect(scaled.ok).toBe(true);
    expect(scaled.maxRelErr).toBeCloseTo(0.0005, 6);
    expect(scaled.maxAbsErr).toBeCloseTo(0.05, 4);
    expect(
      compare(
        TOL,
        ref,
        nudge((v) => v * 0.01),
      ).ok,
    ).toBe(false);
  });

  it("tolerance: atol is absolute for tensors whose magnitudes are all below 1", () => {
    const tiny = [f32("p", [4], [3e-8, 7e-4, 0, 1e-6])];
    const noisy = [f32("p", [4], [1.8e-7, 7.000005e-4, 1e-7, 1.2e-6])];
    expect(compare(TOL, tiny, noisy).ok).toBe(true);
    expect(compare(TOL, tiny, [f32("p", [4], [3e-8, 7e-4, 2e-5, 1e-6])]).ok).toBe(false);
  });

  it("tolerance: integer outputs, names, dtypes and dims must match exactly", () => {
    expect(compare(TOL, ref, [ref[0], i32("n", [2], [7, 10])])).toMatchObject({ ok: false, tensor: "n" });
    expect(compare(TOL, ref, [ref[0]]).reason).toMatch(/outputs are \[y\], expected \[n, y\]/);
    expect(compare(TOL, ref, [ref[0], f32("n", [2], [7, 9])]).reason).toMatch(/n is float32, expected int32/);
    expect(compare(TOL, ref, [f32("y", [3, 2], [1, -2, 0.5, 100, 0, -3]), ref[1]]).reason).toMatch(
      /dims \[3,2\], expected \[2,3\]/,
    );
    expect(compare(TOL, ref, [ref[0], ref[1], ref[1]]).reason).toMatch(/two outputs named n/);
    expect(compare(TOL, ref, [{ ...ref[0], data: new Uint8Array(3) }, ref[1]]).reason).toMatch(/malformed/);
  });

  it("tolerance: NaN must meet NaN, infinities must be equal", () => {
    const r = [f32("y", [3], [Number.NaN, Number.POSITIVE_INFINITY, 1])];
    expect(compare(TOL, r, [f32("y", [3], [Number.NaN, Number.POSITIVE_INFINITY, 1])]).ok).toBe(true);
    expect(compare(TOL, r, [f32("y", [3], [0, Number.POSITIVE_INFINITY, 1])]).ok).toBe(false);
    expect(compare(TOL, r, [f32("y", [3], [Number.NaN, 3e38, 1])]).ok).toBe(false);
  });

  it("top-k: argmax and top-k sets along the last axis, near-ties exempt", () => {
    const argmax: VerificationPolicy = { kind: "tolerance", rtol: 0.1, atol: 0, topK: 1 };
    const ref = [f32("logits", [2, 4], [0.1, 0.5, 0.2, 0.2, 2.6, 1, 3, 0])];
    const out = (row1: number[]) => [f32("logits", [2, 4], [0.1, 0.5, 0.2, 0.2, ...row1])];
    expect(compare(argmax, ref, out([2.6, 1, 2.9, 0])).ok).toBe(true);
    // Row 1: gap 0.4 over the k-th's tolerance 0.3; each element stays within its own bound
    // (2.85 vs 2.6: 0.25 <= 0.26; 2.7 vs 3: 0.3 <= 0.3) but the argmax moves.
    const flipped = compare(argmax, ref, out([2.85, 1, 2.7, 0]));
    expect(flipped).toMatchObject({ ok: false, tensor: "logits" });
    expect(flipped.reason).toMatch(/row 1: top-1 along the last axis disagrees/);
    expect(compare({ ...argmax, topK: 0 }, ref, out([2.85, 1, 2.7, 0])).ok).toBe(true);
    // A near-tie (gap 0.2 <= 0.3) may flip: an honest re-run can order it either way.
    const tie = [f32("logits", [1, 4], [2.8, 1, 3, 0])];
    expect(compare(argmax, tie, [f32("logits", [1, 4], [2.9, 1, 2.85, 0])]).ok).toBe(true);

    const top2: VerificationPolicy = { kind: "tolerance", rtol: 0.5, atol: 0, topK: 2 };
    const wide = [f32("s", [5], [8, 1, 40, 20, 0])];
    expect(compare(top2, wide, [f32("s", [5], [9, 1, 30, 19, 0])]).ok).toBe(true);
    const swapped = compare(top2, wide, [f32("s", [5], [11.5, 1, 40, 10.5, 0])]);
    expect(swapped.reason).toMatch(/top-2 along the last axis disagrees/);
  });

  it("rejects a malformed reference as an error, not a verdict", () => {
    expect(() => compare(TOL, [{ ...ref[0], dims: [7] }], ref)).toThrow(
      expect.objectContaining({ code: ComputeRuntimeErrorCode.INVALID_TENSOR }),
    );
  });
});
