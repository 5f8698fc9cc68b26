/**
 * Worker thread of `SenderRecovery`: recovers secp256k1 public keys with the native
 * libsecp256k1 binding. Input: packed records of 32-byte digest, 64-byte signature (r||s) and
 * a recovery id; output: per record, the 64-byte public key and an ok flag.
 * Kept free of project imports so it starts fast in any loader.
 */
import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";

interface Native {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

const require = createRequire(import.meta.url);
const secp256k1 = require("secp256k1/bindings") as Native;

const RECORD_IN = 97;
const RECORD_OUT = 65;

parentPort?.on("message", (message: { id: number; input: Uint8Array; count: number }) => {
  const { id, input, count } = message;
  const output = new Uint8Array(count * RECORD_OUT);
  for (let i = 0; i < count; i++) {
    const base = i * RECORD_IN;
    try {
      const pub = secp256k1.ecdsaRecover(
        input.subarray(base + 32, base + 96),
        input[base + 96],
        input.subarray(base, base + 32),
        false,
      );
      output.set(pub.subarray(1), i * RECORD_OUT);
      output[i * RECORD_OUT + 64] = 1;
    } catch {
      output[i * RECORD_OUT + 64] = 0;
    }
  }
  parentPort?.postMessage({ id, output }, [output.buffer]);
});
