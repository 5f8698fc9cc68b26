/** Trie utilities: roots of block-level lists and cached transaction encodings. */
import type { TypedTransaction } from "@ethereumjs/tx";
import { orderedTrieRoot } from "./ordered.ts";

export { orderedTrieRoot, trieRoot } from "./ordered.ts";

const encodings = new WeakMap<TypedTransaction, Uint8Array>();

/**
 * The canonical encoding of a transaction, cached per object. ethereumjs re-encodes typed
 * transactions on every `serialize()`; blocks serialize each one several times (tx root,
 * payload, storage), and the pool already holds the bytes it received.
 */
export function txBytes(tx: TypedTransaction): Uint8Array {
  let bytes = encodings.get(tx);
  if (bytes === undefined) {
    bytes = tx.serialize();
    encodings.set(tx, bytes);
  }
  return bytes;
}

/** Records bytes known to be `tx`'s encoding (as received from the network or RPC). */
export function rememberTxBytes(tx: TypedTransaction, bytes: Uint8Array): void {
  encodings.set(tx, bytes);
}

export function transactionsRoot(txs: readonly TypedTransaction[]): Uint8Array {
  return orderedTrieRoot(txs.map(txBytes));
}
