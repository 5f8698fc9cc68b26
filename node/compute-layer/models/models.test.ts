import { describe, expect, it } from "vitest";
import { silentLogger } from "../../utils/logger.ts";
import { readModelSpec } from "../runtime/model-spec.ts";
import { OnnxRunner } from "../runtime/runner.ts";
import { tensorValues } from "../runtime/tensor.ts";
import { int8Model, mlpModel, SeededRandom, seededInputs, transformerModel } from "./generate.ts";
import { loadNpmModel, NPM_MODELS, type NpmModelName, npmModelPath } from "./npm-models.ts";

describe("generated models", () => {
  it("are byte-for-byte reproducible (pinned sha256) and seed-dependent", () => {
    // A model is named on chain by its sha256, so regenerating it anywhere must give these bytes.
    expect(mlpModel().sha256).toBe("0xf6831a4a9e0d2772a70c88ba1e265a090971be3418bdd0d55885c31a3d33da4f");
    expect(transformerModel().sha256).toBe(
      "0xfa3aab415e6cea961f68eddbd02cbd5150fd3871d0c0b66fbf99f3e780257ec1",
    );
    expect(transformerModel({ gelu: "tanh" }).sha256).toBe(
      "0xdb92b001d55cd420758193c858249ce1f7f02be2158cca40df22c0a07d78f595",
    );
    expect(int8Model().sha256).toBe("0x99d4d75be6c907d99e4320e06255cd2611fb2e3a5dc53f6ce469cc353dff9674");
    expect(mlpModel().bytes).toEqual(mlpModel().bytes);
    expect(mlpModel({ seed: 1 }).sha256).not.toBe(mlpModel().sha256);
  });

  it("declare the interface their ONNX graphs have, and run", async () => {
    const runner = new OnnxRunner({ gpu: false, logger: silentLogger() });
    try {
      for (const model of [mlpModel(), transformerModel(), transformerModel({ gelu: "tanh" }), int8Model()]) {
        const spec = readModelSpec(model.bytes);
        expect(spec).toEqual({ irVersion: 8, opset: 17, inputs: model.inputs, outputs: model.outputs });
        const result = await runner.run(model, seededInputs(model.inputs, 9, 3));
        expect(result.outputs.map((o) => [o.name, o.dtype, o.dims[0]])).toEqual(
          [...model.outputs].sort((a, b) => (a.name < b.name ? -1 : 1)).map((o) => [o.name, o.dtype, 3]),
        );
      }
      const mlp = mlpModel();
      const { outputs } = await runner.run(mlp, seededInputs(mlp.inputs, 1, 2));
      const probs = tensorValues(outputs.find((o) => o.name === "probs")!) as Float32Array;
      expect(probs.subarray(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    } finally {
      await runner.close();
    }
  });

  it("draw inputs and weights from a platform-independent PRNG", () => {
    // Pinned: weights of registered models depend on this exact sequence.
    const rng = new SeededRandom(42);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([551831576, 144025891, 322543647]);
    expect(rng.uniform(-1, 1)).toBe(0.4131932258605957);
    expect(rng.int(-63, 63)).toBe(-3);
    const a = seededInputs([{ name: "x", dtype: "int64", dims: [-1, 4] }], 7, 2);
    expect(a[0].dims).toEqual([2, 4]);
    expect(seededInputs([{ name: "x", dtype: "int64", dims: [-1, 4] }], 7, 2)).toEqual(a);
    const values = tensorValues(
      seededInputs([{ name: "u", dtype: "float32", dims: [1000] }], 3)[0],
    ) as Float32Array;
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(new Set(values).size).toBeGreaterThan(990);
  });
});

describe("npm models", () => {
  it("locates the PP-OCR models with the interfaces their files declare", async () => {
    for (const name of Object.keys(NPM_MODELS) as NpmModelName[]) {
      expect(npmModelPath(name)).toMatch(/@gutenye\/ocr-models\/assets\/.+\.onnx$/);
      const model = await loadNpmModel(name);
      const spec = readModelSpec(model.bytes);
      expect(spec.inputs).toEqual(model.inputs);
      expect(spec.outputs).toEqual(model.outputs);
      expect(model.sha256).toMatch(/^0x[0-9a-f]{64}$/);
    }
    expect((await loadNpmModel("ocr-cls")).sha256).toBe(
      "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640",
    );
  });
});
