/**
 * SSZ hashing backend. `@chainsafe/persistent-merkle-tree` hashes with pure-JS SHA-256 (noble)
 * unless told otherwise; every state root, block root and Merkle proof in the consensus layer
 * goes through it. The native `@chainsafe/hashtree` (SIMD SHA-256, a prebuilt addon, the
 * hasher Lodestar's beacon node uses) is several times faster. It is selected once per process,
 * before any state is hashed; if its addon cannot load on this platform, the JS hasher stays.
 */
import { setHasher } from "@chainsafe/persistent-merkle-tree";

export type HasherName = "hashtree" | "noble";

let selected: Promise<HasherName> | undefined;

/** Switches SSZ hashing to the native hasher (idempotent); resolves to the one in use. */
export function useNativeHasher(): Promise<HasherName> {
  selected ??= import("@chainsafe/persistent-merkle-tree/hasher/hashtree")
    .then(({ hasher }) => {
      // A cheap self-check: a native addon that loads but cannot hash must not be used.
      hasher.digest64(new Uint8Array(32), new Uint8Array(32));
      setHasher(hasher);
      return "hashtree" as const;
    })
    .catch(() => "noble" as const);
  return selected;
}
