/**
 * Receipts as the node stores them, and their consensus (EIP-2718 typed) encoding.
 *
 * Storage form per block: RLP [[statusOrRoot, cumulativeGasUsed, logs], ...]. The bloom is
 * not stored (256 bytes per receipt); it is recomputed from the logs when needed, and the
 * transaction type comes from the body.
 */

import type { Log } from "@ethereumjs/evm";
import { RLP } from "@ethereumjs/rlp";
import { bigIntToBytes, bytesToBigInt, concatBytes } from "@ethereumjs/util";
import type { TxReceipt } from "@ethereumjs/vm";
import { keccak256 } from "../crypto.ts";

export interface StoredReceipt {
  /** 1 success, 0 failure; undefined for pre-Byzantium receipts, which carry `stateRoot`. */
  status?: 0 | 1;
  stateRoot?: Uint8Array;
  cumulativeGasUsed: bigint;
  logs: Log[];
}

export function fromVmReceipt(receipt: TxReceipt): StoredReceipt {
  if ("stateRoot" in receipt) {
    return {
      stateRoot: receipt.stateRoot,
      cumulativeGasUsed: receipt.cumulativeBlockGasUsed,
      logs: receipt.logs,
    };
  }
  return { status: receipt.status, cumulativeGasUsed: receipt.cumulativeBlockGasUsed, logs: receipt.logs };
}

function statusField(r: StoredReceipt): Uint8Array {
  if (r.stateRoot !== undefined) return r.stateRoot;
  return r.status === 1 ? Uint8Array.of(1) : new Uint8Array(0);
}

export function encodeStoredReceipts(receipts: readonly StoredReceipt[]): Uint8Array {
  return RLP.encode(receipts.map((r) => [statusField(r), bigIntToBytes(r.cumulativeGasUsed), r.logs]));
}

export function decodeStoredReceipts(bytes: Uint8Array): StoredReceipt[] {
  const list = RLP.decode(bytes) as unknown as [Uint8Array, Uint8Array, Log[]][];
  return list.map(([status, gas, logs]) => {
    const cumulativeGasUsed = bytesToBigInt(gas);
    if (status.length === 32) return { stateRoot: status, cumulativeGasUsed, logs };
    return { status: status.length === 1 && status[0] === 1 ? 1 : 0, cumulativeGasUsed, logs };
  });
}

/** The 2048-bit logs bloom of a set of logs. */
export function logsBloom(logs: readonly Log[], into: Uint8Array = new Uint8Array(256)): Uint8Array {
  const add = (value: Uint8Array) => {
    const h = keccak256(value);
    for (let i = 0; i < 6; i += 2) {
      const bit = ((h[i] << 8) | h[i + 1]) & 2047;
      into[255 - (bit >> 3)] |= 1 << (bit & 7);
    }
  };
  for (const [address, topics] of logs) {
    add(address);
    for (const topic of topics) add(topic);
  }
  return into;
}

/** The consensus encoding of a receipt (what the receipts trie and `debug_getRawReceipts` hold). */
export function encodeConsensusReceipt(receipt: StoredReceipt, txType: number): Uint8Array {
  const encoded = RLP.encode([
    statusField(receipt),
    bigIntToBytes(receipt.cumulativeGasUsed),
    logsBloom(receipt.logs),
    receipt.logs,
  ]);
  return txType === 0 ? encoded : concatBytes(Uint8Array.of(txType), encoded);
}
