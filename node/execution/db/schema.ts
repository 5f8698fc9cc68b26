/**
 * Key layout of the execution layer's LevelDB (binary keys, one-byte table prefixes).
 *
 *   'h' num(8) hash(32)  -> header RLP
 *   'b' num(8) hash(32)  -> body RLP [transactions, uncles, withdrawals?]
 *   'r' num(8) hash(32)  -> receipts in storage form (see receipts.ts)
 *   's' num(8) hash(32)  -> senders, 20 bytes per transaction
 *   'H' hash(32)         -> num(8): which height a known block hash is at
 *   'n' num(8)           -> canonical block hash at height num
 *   'l' txHash(32)       -> num(8) index(4): canonical transaction lookup
 *   'A' address(20) num(8) -> '' : canonical block num has a log emitted by address
 *   'T' topic(32) num(8)   -> '' : canonical block num has a log with this topic (any position)
 *   'N' key              -> state database: trie nodes by hash (state and storage tries share
 *                           the table) and contract code by 'c' codeHash (33-byte keys)
 *   'm' name             -> metadata (head, safe, finalized, genesis, chain config, schema version)
 *   'j' ...              -> transaction pool journal (local transactions)
 */

export const SCHEMA_VERSION = 1;

const enc = new TextEncoder();

export const Prefix = {
  header: 0x68, // h
  body: 0x62, // b
  receipts: 0x72, // r
  senders: 0x73, // s
  hashToNumber: 0x48, // H
  canonical: 0x6e, // n
  txLookup: 0x6c, // l
  logAddress: 0x41, // A
  logTopic: 0x54, // T
  trieNode: 0x4e, // N
  meta: 0x6d, // m
  journal: 0x6a, // j
} as const;

export function encodeNumber(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

export function decodeNumber(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getBigUint64(0);
}

function key(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  let length = 1;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  out[0] = prefix;
  let offset = 1;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const Keys = {
  header: (num: bigint, hash: Uint8Array) => key(Prefix.header, encodeNumber(num), hash),
  body: (num: bigint, hash: Uint8Array) => key(Prefix.body, encodeNumber(num), hash),
  receipts: (num: bigint, hash: Uint8Array) => key(Prefix.receipts, encodeNumber(num), hash),
  senders: (num: bigint, hash: Uint8Array) => key(Prefix.senders, encodeNumber(num), hash),
  hashToNumber: (hash: Uint8Array) => key(Prefix.hashToNumber, hash),
  canonical: (num: bigint) => key(Prefix.canonical, encodeNumber(num)),
  txLookup: (txHash: Uint8Array) => key(Prefix.txLookup, txHash),
  logAddress: (address: Uint8Array, num: bigint) => key(Prefix.logAddress, address, encodeNumber(num)),
  logTopic: (topic: Uint8Array, num: bigint) => key(Prefix.logTopic, topic, encodeNumber(num)),
  trieNode: (dbKey: Uint8Array) => key(Prefix.trieNode, dbKey),
  meta: (name: string) => key(Prefix.meta, enc.encode(name)),
  journal: (id: Uint8Array) => key(Prefix.journal, id),
  journalPrefix: () => key(Prefix.journal),
} as const;

export const MetaKey = {
  head: "head",
  safe: "safe",
  finalized: "finalized",
  genesis: "genesis",
  config: "config",
  schema: "schema",
} as const;
