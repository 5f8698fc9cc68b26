/**
 * State tries opened directly, below the state manager: the account trie of a state root and
 * the storage trie of an account, with the layout every state view of this node uses
 * (keccak-256 hashed keys, raw byte values, nodes keyed by their hash in the `StateStore`).
 *
 * Used for EIP-1186 Merkle proofs (eth_getProof) and for state views whose writes must never
 * reach the shared store (eth_simulateV1 computes state roots of blocks that do not exist):
 * `OverlayDB` keeps such writes in memory and reads everything else through.
 */

import type { Common } from "@ethereumjs/common";
import { createMerkleProof, MerklePatriciaTrie } from "@ethereumjs/mpt";
import { Caches, MerkleStateManager } from "@ethereumjs/statemanager";
import { type BatchDBOp, type DB, ValueEncoding } from "@ethereumjs/util";
import { keccak256 } from "../crypto.ts";

/** The trie-node database interface the state tries run on. */
export type NodeDB = DB<string, Uint8Array | string>;

/** The account trie at `root` over `db`. */
export function openStateTrie(db: NodeDB, root: Uint8Array, common?: Common): MerklePatriciaTrie {
  return new MerklePatriciaTrie({
    db,
    root,
    useKeyHashing: true,
    useKeyHashingFunction: keccak256,
    valueEncoding: ValueEncoding.Bytes,
    common,
  });
}

/** The storage trie with root `storageRoot`, sharing `stateTrie`'s database and options. */
export function openStorageTrie(stateTrie: MerklePatriciaTrie, storageRoot: Uint8Array): MerklePatriciaTrie {
  const trie = stateTrie.shallowCopy(false);
  trie.root(storageRoot);
  return trie;
}

/**
 * The proof nodes for `key` (hashed by the trie), root first, as geth's `Trie.Prove` returns
 * them: the root and every node referenced by hash; nodes embedded in their parent (RLP shorter
 * than 32 bytes) are part of the parent's encoding and are not repeated. For a missing key the
 * nodes walked before the path ends form the exclusion proof.
 */
export async function proveKey(trie: MerklePatriciaTrie, key: Uint8Array): Promise<Uint8Array[]> {
  const nodes = await createMerkleProof(trie, key);
  return nodes.filter((node, i) => i === 0 || node.length >= 32);
}

/**
 * A copy-on-write view of a node database: reads fall through to `base`, writes stay in this
 * object and vanish with it. Nodes are content-addressed, so a view never disagrees with its base.
 */
export class OverlayDB implements NodeDB {
  private readonly base: NodeDB;
  private readonly writes = new Map<string, Uint8Array | string>();

  constructor(base: NodeDB) {
    this.base = base;
  }

  async get(key: string): Promise<Uint8Array | string | undefined> {
    return this.writes.get(key) ?? this.base.get(key);
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    this.writes.set(key, value);
  }

  /** Deletions are ignored, as in the base store: nodes may be shared. */
  async del(_key: string): Promise<void> {}

  async batch(ops: BatchDBOp<string, Uint8Array | string>[]): Promise<void> {
    for (const op of ops) if (op.type === "put") this.writes.set(op.key, op.value);
  }

  shallowCopy(): NodeDB {
    return this;
  }

  async open(): Promise<void> {}
}

/** A state manager at `root` whose writes (trie nodes, code) stay in a private overlay of `base`. */
export function overlayState(base: NodeDB, root: Uint8Array, common: Common): MerkleStateManager {
  const trie = openStateTrie(new OverlayDB(base), root, common);
  return new MerkleStateManager({ trie, common, caches: new Caches() });
}
