/**
 * Storage layout helpers for the native system contracts. A contract's storage is a map of
 * 32-byte slots at its own address, as for any contract, so proofs (eth_getProof) and
 * eth_getStorageAt work on it. Every record lives at `keccak256(tag ++ keys)`: `tag` names the
 * field ("task.state"), keys are 32-byte words (ids, addresses). Multi-word records use
 * consecutive slots from there; variable-length bytes keep their length at the slot and their
 * 32-byte chunks from `keccak256(slot)` on, as Solidity lays out `bytes`.
 */
import { bigIntToBytes, bytesToBigInt, concatBytes, hexToBytes, setLengthLeft } from "@ethereumjs/util";
import { keccak256 } from "../../node/execution/crypto.ts";

export type SlotKey = bigint | `0x${string}` | Uint8Array;

const encoder = new TextEncoder();

/** A key as one 32-byte word (addresses and hashes left-padded). */
export function word(key: SlotKey): Uint8Array {
  if (typeof key === "bigint") return setLengthLeft(bigIntToBytes(key), 32);
  if (typeof key === "string") return setLengthLeft(hexToBytes(key), 32);
  return setLengthLeft(key, 32);
}

/** The slot of field `tag` for `keys`. */
export function slotOf(tag: string, ...keys: SlotKey[]): Uint8Array {
  return keccak256(concatBytes(encoder.encode(tag), ...keys.map(word)));
}

/** The slot `i` words after `slot`. */
export function offset(slot: Uint8Array, i: number | bigint): Uint8Array {
  if (i === 0 || i === 0n) return slot;
  const next = (bytesToBigInt(slot) + BigInt(i)) % (1n << 256n);
  return setLengthLeft(bigIntToBytes(next), 32);
}

/** Where the chunks of variable-length bytes stored at `slot` start. */
export function dataSlot(slot: Uint8Array): Uint8Array {
  return keccak256(slot);
}
