/**
 * eth_getProof (EIP-1186): the Merkle proof of an account and of some of its storage slots at
 * any block whose state we hold (this node is an archive: every block).
 *
 * Shapes and edge cases follow geth: storage keys are parsed leniently (0x optional, up to 32
 * bytes) and echoed as given when 32 bytes long, as a quantity otherwise; slot values are
 * quantities; a missing account has zero `codeHash` and `storageHash` and an exclusion proof;
 * slots of an account with empty storage get an empty proof. At most 1024 keys per call
 * (geth's `maxGetProofKeys`).
 */
import { RLP } from "@ethereumjs/rlp";
import {
  Address,
  bigIntToHex,
  bytesToBigInt,
  bytesToHex,
  createAccountFromRLP,
  equalsBytes,
  hexToBytes,
  KECCAK256_RLP,
  setLengthLeft,
} from "@ethereumjs/util";
import { openStateTrie, openStorageTrie, proveKey } from "../../../execution/state/tries.ts";
import { type RpcContext, stateHeader } from "../context.ts";
import { invalidParams } from "../errors.ts";
import type { Json } from "../format.ts";
import { address, any, type BlockRef, blockRef, optional } from "../params.ts";
import { type MethodTable, method } from "../registry.ts";

/** Most storage keys one call may ask for (geth's limit). */
export const MAX_PROOF_KEYS = 1024;

const LATEST: BlockRef = { kind: "tag", tag: "latest" };
const ZERO_HASH = bytesToHex(new Uint8Array(32));

interface StorageKey {
  /** The slot, left-padded to 32 bytes. */
  slot: Uint8Array;
  /** The key as the response echoes it. */
  output: string;
}

/** geth's decodeStorageKey: optional 0x, odd length allowed, at most 32 bytes. */
function decodeStorageKey(raw: string): StorageKey {
  let digits = raw.startsWith("0x") || raw.startsWith("0X") ? raw.slice(2) : raw;
  if (digits.length % 2 === 1) digits = `0${digits}`;
  if (digits.length > 64)
    throw invalidParams(`storage key too long (want at most 32 bytes): ${JSON.stringify(raw)}`);
  if (!/^[0-9a-fA-F]*$/.test(digits))
    throw invalidParams(`invalid hex in storage key: ${JSON.stringify(raw)}`);
  const bytes = hexToBytes(`0x${digits}`);
  return {
    slot: setLengthLeft(bytes, 32),
    output: bytes.length === 32 ? bytesToHex(bytes) : bigIntToHex(bytesToBigInt(bytes)),
  };
}

/** The JSON type name Go's decoder reports ("cannot unmarshal number into ..."). */
function jsonType(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "bool";
  return typeof value;
}

function decodeStorageKeys(value: unknown): StorageKey[] {
  if (!Array.isArray(value)) {
    throw invalidParams(
      `invalid argument 1: json: cannot unmarshal ${jsonType(value)} into Go value of type []string`,
    );
  }
  if (value.length > MAX_PROOF_KEYS)
    throw invalidParams(`too many storage keys requested (max ${MAX_PROOF_KEYS}, got ${value.length})`);
  return value.map((key) => {
    if (typeof key !== "string") {
      throw invalidParams(
        `invalid argument 1: json: cannot unmarshal ${jsonType(key)} into Go value of type string`,
      );
    }
    return decodeStorageKey(key);
  });
}

const hexNodes = (nodes: Uint8Array[]): Json[] => nodes.map((node) => bytesToHex(node));

export function proofMethods(ctx: RpcContext): MethodTable {
  return {
    eth_getProof: method(
      [address("address"), any("storageKeys"), optional(blockRef("block"))],
      async (addressBytes, rawKeys, ref) => {
        // Keys are checked before any state is read, as geth does.
        const keys = decodeStorageKeys(rawKeys);
        const header = stateHeader(ctx, ref ?? LATEST);
        const account = new Address(addressBytes);
        const stateTrie = openStateTrie(ctx.chain.db.state, header.stateRoot);
        const accountProof = await proveKey(stateTrie, account.bytes);
        const encoded = await stateTrie.get(account.bytes);
        const state = encoded === null ? undefined : createAccountFromRLP(encoded);

        const storageRoot = state?.storageRoot;
        const storageTrie =
          storageRoot === undefined || equalsBytes(storageRoot, KECCAK256_RLP)
            ? undefined
            : openStorageTrie(stateTrie, storageRoot);
        const storageProof: Json[] = [];
        for (const { slot, output } of keys) {
          if (storageTrie === undefined) {
            storageProof.push({ key: output, value: "0x0", proof: [] });
            continue;
          }
          const proof = await proveKey(storageTrie, slot);
          const stored = await storageTrie.get(slot);
          const value = stored === null ? 0n : bytesToBigInt(RLP.decode(stored) as Uint8Array);
          storageProof.push({ key: output, value: bigIntToHex(value), proof: hexNodes(proof) });
        }
        return {
          address: account.toString(),
          accountProof: hexNodes(accountProof),
          balance: bigIntToHex(state?.balance ?? 0n),
          codeHash: state === undefined ? ZERO_HASH : bytesToHex(state.codeHash),
          nonce: bigIntToHex(state?.nonce ?? 0n),
          storageHash: storageRoot === undefined ? ZERO_HASH : bytesToHex(storageRoot),
          storageProof,
        };
      },
    ),
  };
}
