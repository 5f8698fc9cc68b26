/**
 * Worker thread of `OnnxRunner` (runner.ts): owns onnxruntime-node inference sessions and runs
 * them, so the synchronous part of `session.run` never blocks the node's main thread.
 *
 * The main thread decides everything else (profiles, the session cache and its LRU order, hash
 * checks, model specs, typed errors, metrics); this thread only holds sessions by number (`key`, one per load: never reused):
 * - `load { id, key, bytes, options }` -> `{ id, createMs }`: creates the session `key` from
 *   `bytes` with session options `options`; on failure `{ id, error }` (onnxruntime's message).
 * - `run { id, key, inputs, buffer }` -> `{ id, outputs, buffer, runMs }`: runs session `key` on
 *   the inputs, each `{ name, type, dims, offset, length }` bytes of `buffer` (one transferred
 *   ArrayBuffer, every tensor aligned for its type), and transfers `buffer` back (the main thread
 *   reuses it) with the outputs `{ name, type, dims, data }` in session output order, their data
 *   transferred; on failure `{ id, error, buffer }`.
 * - `release { key }`: releases the session (no answer).
 * - `stop`: releases every session and closes the port, so the thread ends by itself.
 * Kept free of project imports so it starts fast in any loader.
 */

import { parentPort } from "node:worker_threads";
import { InferenceSession, Tensor } from "onnxruntime-node";

/** An input's place in the run's shared buffer. */
export interface WorkerInput {
  name: string;
  type: string;
  dims: number[];
  offset: number;
  length: number;
}

export interface WorkerOutput {
  name: string;
  type: string;
  dims: number[];
  data: Uint8Array;
}

export type WorkerRequest =
  | { kind: "load"; id: number; key: number; bytes: Uint8Array; options: InferenceSession.SessionOptions }
  | { kind: "run"; id: number; key: number; inputs: WorkerInput[]; buffer: ArrayBuffer }
  | { kind: "release"; key: number }
  | { kind: "stop" };

export type WorkerResponse =
  | { id: number; createMs: number }
  | { id: number; outputs: WorkerOutput[]; buffer?: ArrayBuffer; runMs: number }
  | { id: number; error: string; buffer?: ArrayBuffer };

const sessions = new Map<number, InferenceSession>();

type Data = Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

function typedView(type: string, buffer: ArrayBuffer, offset: number, length: number): Data {
  switch (type) {
    case "float32":
      return new Float32Array(buffer, offset, length / 4);
    case "float64":
      return new Float64Array(buffer, offset, length / 8);
    case "int8":
      return new Int8Array(buffer, offset, length);
    case "int32":
      return new Int32Array(buffer, offset, length / 4);
    case "int64":
      return new BigInt64Array(buffer, offset, length / 8);
    default:
      // uint8 and bool: one byte per element.
      return new Uint8Array(buffer, offset, length);
  }
}

function tensorOf(input: WorkerInput, buffer: ArrayBuffer): Tensor {
  const data = typedView(input.type, buffer, input.offset, input.length);
  return new Tensor(input.type as Tensor.Type, data as Tensor.DataType, input.dims);
}

async function load(id: number, key: number, bytes: Uint8Array, options: InferenceSession.SessionOptions) {
  const started = performance.now();
  try {
    const session = await InferenceSession.create(bytes, options);
    sessions.set(key, session);
    post({ id, createMs: performance.now() - started });
  } catch (err) {
    post({ id, error: (err as Error).message });
  }
}

async function run(id: number, key: number, inputs: WorkerInput[], buffer: ArrayBuffer) {
  const session = sessions.get(key);
  if (session === undefined) {
    post({ id, error: `no session ${key} in the worker`, buffer }, [buffer]);
    return;
  }
  const started = performance.now();
  let results: InferenceSession.OnnxValueMapType;
  try {
    const feeds: Record<string, Tensor> = {};
    for (const input of inputs) feeds[input.name] = tensorOf(input, buffer);
    results = await session.run(feeds);
  } catch (err) {
    post({ id, error: (err as Error).message, buffer }, [buffer]);
    return;
  }
  const runMs = performance.now() - started;
  const outputs: WorkerOutput[] = [];
  const transfer: ArrayBuffer[] = [buffer];
  for (const name of session.outputNames) {
    const value = results[name] as Tensor | undefined;
    if (value === undefined) {
      post({ id, error: `output ${name} missing`, buffer }, [buffer]);
      return;
    }
    const values = value.data;
    if (!ArrayBuffer.isView(values)) {
      post({ id, error: `output ${name}: data is not a typed array`, buffer }, [buffer]);
      return;
    }
    let data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    // Transfer whole buffers of this output alone; anything shared or odd is copied.
    if (
      !(data.buffer instanceof ArrayBuffer) ||
      data.byteOffset !== 0 ||
      data.byteLength !== data.buffer.byteLength ||
      transfer.includes(data.buffer)
    )
      data = data.slice();
    transfer.push(data.buffer as ArrayBuffer);
    outputs.push({ name, type: value.type, dims: value.dims.map(Number), data });
  }
  try {
    post({ id, outputs, buffer, runMs }, transfer);
  } catch {
    // A buffer that cannot be transferred (external memory): copies of everything instead.
    const copies = outputs.map((o) => ({ ...o, data: o.data.slice() }));
    post({ id, outputs: copies, buffer, runMs }, [
      buffer,
      ...copies.map((o) => o.data.buffer as ArrayBuffer),
    ]);
  }
}

function post(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

parentPort?.on("message", (message: WorkerRequest) => {
  switch (message.kind) {
    case "load":
      void load(message.id, message.key, message.bytes, message.options);
      return;
    case "run":
      void run(message.id, message.key, message.inputs, message.buffer);
      return;
    case "release": {
      const session = sessions.get(message.key);
      sessions.delete(message.key);
      session?.release().catch(() => undefined);
      return;
    }
    case "stop": {
      // Every session released, then the port closed: the thread ends on its own.
      const all = [...sessions.values()];
      sessions.clear();
      void Promise.allSettled(all.map((s) => s.release())).then(() => parentPort?.close());
      return;
    }
  }
});
