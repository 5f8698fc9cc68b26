/**
 * Proto-array: the block tree as a flat array, plus the per-validator vote table and the vote
 * deltas that move weight through it. It owns the tree's shape (parent indices, insertion
 * order), node weights, the best child / best descendant of each node, ancestor walks and
 * pruning. It knows nothing of the store's rules: which leaves are viable for head is a
 * predicate the caller (fork-choice.ts) passes in.
 *
 * Invariant: a parent always sits at a lower index than its children (blocks are appended after
 * their parent, and pruning keeps the order). One backward pass therefore sees every node after
 * all of its descendants, which lets `applyScoreChanges` add each node's delta, hand it on to
 * the parent, and settle the node's best child and descendant — all in O(nodes).
 */
import { ForkChoiceError, ForkChoiceErrorCode } from "./errors.ts";
import type { BlockSummary, RootHex } from "./interface.ts";

/** "No node": the parent of the tree's root, an unset best child, an unset vote. */
export const NONE = -1;

export interface ProtoNode {
  readonly block: BlockSummary;
  /** Index of the parent node, NONE for the root (the anchor or finalized block). */
  parent: number;
  /** Votes for this block and its descendants, plus the proposer boost it carries. */
  weight: number;
  /** Heaviest child leading to a viable head (ties: higher root), NONE if none. */
  bestChild: number;
  /** The viable head reached by following best children, NONE if no viable head below. */
  bestDescendant: number;
}

/** Decides, for a leaf of the tree, whether it is a viable head (spec filter_block_tree). */
export type ViableLeafPredicate = (index: number, node: ProtoNode) => boolean;

export class ProtoArray {
  private nodes: ProtoNode[] = [];
  private readonly indices = new Map<RootHex, number>();
  /** Scratch flags for `applyScoreChanges` (whether a node has a child), reused between passes. */
  private hasChild = new Uint8Array(0);

  constructor(root: BlockSummary) {
    this.indices.set(root.blockRoot, 0);
    this.nodes.push({ block: root, parent: NONE, weight: 0, bestChild: NONE, bestDescendant: NONE });
  }

  get length(): number {
    return this.nodes.length;
  }

  getIndex(blockRoot: RootHex): number | undefined {
    return this.indices.get(blockRoot);
  }

  /** The node at `index` (0 <= index < length). */
  node(index: number): ProtoNode {
    return this.nodes[index];
  }

  /** Appends a block whose parent is in the array; returns its index. */
  add(block: BlockSummary): number {
    const parent = this.indices.get(block.parentRoot);
    if (parent === undefined) {
      throw new ForkChoiceError(ForkChoiceErrorCode.UNKNOWN_PARENT, "parent block unknown", {
        blockRoot: block.blockRoot,
        parentRoot: block.parentRoot,
      });
    }
    const index = this.nodes.length;
    this.nodes.push({ block, parent, weight: 0, bestChild: NONE, bestDescendant: NONE });
    this.indices.set(block.blockRoot, index);
    return index;
  }

  /**
   * Index of the block at or before `slot` on the chain of the node at `index` (spec
   * get_ancestor), NONE when the walk leaves the array (pruned) before reaching it.
   */
  ancestorAtSlot(index: number, slot: number): number {
    let i = index;
    while (i !== NONE) {
      const node = this.nodes[i];
      if (node.block.slot <= slot) return i;
      i = node.parent;
    }
    return NONE;
  }

  /** `ancestorAtSlot(i, slot)` for every node at once, in one forward pass. */
  ancestorsAtSlot(slot: number): Int32Array {
    const nodes = this.nodes;
    const out = new Int32Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      if (node.block.slot <= slot) out[i] = i;
      else out[i] = node.parent === NONE ? NONE : out[node.parent];
    }
    return out;
  }

  /** Whether the node at `descendant` is the node at `ancestor` or below it. */
  isDescendant(ancestor: number, descendant: number): boolean {
    return this.ancestorAtSlot(descendant, this.nodes[ancestor].block.slot) === ancestor;
  }

  /**
   * Adds `deltas` (per node index; consumed: parents accumulate their children's deltas in it)
   * to the node weights, then recomputes every node's best child and best descendant:
   * a leaf leads to a viable head if `isViableLeaf` says so, an inner node if any child does
   * (spec filter_block_tree), and among those children the heaviest wins, ties to the higher
   * root (spec get_head).
   */
  applyScoreChanges(deltas: Float64Array, isViableLeaf: ViableLeafPredicate): void {
    const nodes = this.nodes;
    const n = nodes.length;
    if (deltas.length !== n) {
      throw new ForkChoiceError(ForkChoiceErrorCode.INVALID_WEIGHT, "delta count does not match node count", {
        deltas: deltas.length,
        nodes: n,
      });
    }
    if (this.hasChild.length < n) this.hasChild = new Uint8Array(Math.max(n, this.hasChild.length * 2));
    const hasChild = this.hasChild;
    hasChild.fill(0, 0, n);
    for (let i = 0; i < n; i++) nodes[i].bestChild = NONE;

    for (let i = n - 1; i >= 0; i--) {
      const node = nodes[i];
      const delta = deltas[i];
      if (delta !== 0) {
        node.weight += delta;
        if (node.weight < 0) {
          throw new ForkChoiceError(ForkChoiceErrorCode.INVALID_WEIGHT, "node weight went negative", {
            blockRoot: node.block.blockRoot,
            weight: node.weight,
          });
        }
      }
      // Every child of `node` has a higher index, so its best child is settled by now.
      let leadsToViable: boolean;
      if (hasChild[i] === 1) {
        leadsToViable = node.bestChild !== NONE;
        node.bestDescendant = leadsToViable ? nodes[node.bestChild].bestDescendant : NONE;
      } else {
        leadsToViable = isViableLeaf(i, node);
        node.bestDescendant = leadsToViable ? i : NONE;
      }
      const p = node.parent;
      if (p === NONE) continue;
      deltas[p] += delta;
      hasChild[p] = 1;
      if (!leadsToViable) continue;
      const parent = nodes[p];
      const best = parent.bestChild;
      if (best === NONE || isHeavier(node, nodes[best])) parent.bestChild = i;
    }
  }

  /** Indices of nodes that have no children (tips). */
  tips(): number[] {
    const nodes = this.nodes;
    const isParent = new Uint8Array(nodes.length);
    for (const node of nodes) if (node.parent !== NONE) isParent[node.parent] = 1;
    const out: number[] = [];
    for (let i = 0; i < nodes.length; i++) if (isParent[i] === 0) out.push(i);
    return out;
  }

  /**
   * Keeps the node at `rootIndex` and its descendants, drops everything else, and compacts the
   * array. Returns the dropped blocks and `remap` (old index → new index, NONE if dropped) for
   * whoever holds node indices (the vote table).
   */
  prune(rootIndex: number): { removed: BlockSummary[]; remap: Int32Array } {
    const nodes = this.nodes;
    const remap = new Int32Array(nodes.length).fill(NONE);
    // Index 0 is the only parentless node until the first prune, and after one; so when it is the
    // new root every node already descends from it.
    if (rootIndex === 0) {
      for (let i = 0; i < nodes.length; i++) remap[i] = i;
      return { removed: [], remap };
    }
    const kept: ProtoNode[] = [];
    const removed: BlockSummary[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      const keep = i === rootIndex || (i > rootIndex && node.parent !== NONE && remap[node.parent] !== NONE);
      if (!keep) {
        removed.push(node.block);
        this.indices.delete(node.block.blockRoot);
        continue;
      }
      remap[i] = kept.length;
      node.parent = i === rootIndex ? NONE : remap[node.parent];
      kept.push(node);
    }
    // Best children and descendants of kept nodes are kept nodes (descendants of a kept node).
    for (let i = 0; i < kept.length; i++) {
      const node = kept[i];
      this.indices.set(node.block.blockRoot, i);
      node.bestChild = node.bestChild === NONE ? NONE : remap[node.bestChild];
      node.bestDescendant = node.bestDescendant === NONE ? NONE : remap[node.bestDescendant];
    }
    this.nodes = kept;
    return { removed, remap };
  }
}

function isHeavier(a: ProtoNode, b: ProtoNode): boolean {
  if (a.weight !== b.weight) return a.weight > b.weight;
  return a.block.blockRoot > b.block.blockRoot;
}

/**
 * Latest messages (spec `store.latest_messages`) as parallel arrays indexed by validator index,
 * holding node indices: `current` is the vote already counted in the weights, `next` the latest
 * message, which `computeDeltas` moves into `current`. Unset entries are NONE / -1.
 */
export class VoteTable {
  readonly current: number[] = [];
  readonly next: number[] = [];
  readonly nextEpoch: number[] = [];

  get length(): number {
    return this.current.length;
  }

  /**
   * Records a vote for node `index` with target `epoch` if it is the validator's first vote or
   * from a later epoch than its latest one (spec update_latest_messages). Returns whether it did.
   */
  setLatest(validator: number, index: number, epoch: number): boolean {
    while (this.current.length <= validator) {
      this.current.push(NONE);
      this.next.push(NONE);
      this.nextEpoch.push(-1);
    }
    if (epoch <= this.nextEpoch[validator]) return false;
    this.next[validator] = index;
    this.nextEpoch[validator] = epoch;
    return true;
  }

  /** Forgets a validator's vote (after `computeDeltas` has taken its weight out). */
  clear(validator: number): void {
    if (validator >= this.current.length) return;
    this.current[validator] = NONE;
    this.next[validator] = NONE;
  }

  /** Rewrites node indices after `ProtoArray.prune`; votes for dropped nodes become unset. */
  remap(remap: Int32Array): void {
    const { current, next } = this;
    for (let v = 0; v < current.length; v++) {
      if (current[v] !== NONE) current[v] = remap[current[v]];
      if (next[v] !== NONE) next[v] = remap[next[v]];
    }
  }
}

/**
 * Per-node weight changes since the last call: each validator whose vote moved or whose
 * balance changed takes `oldBalances[v]` off its counted vote and puts `newBalances[v]` on its
 * latest one; equivocating validators only take theirs off, and their votes are cleared.
 * Moves `next` into `current`. Validators past a balances array's end weigh 0. O(validators).
 */
export function computeDeltas(
  nodeCount: number,
  votes: VoteTable,
  oldBalances: ArrayLike<number>,
  newBalances: ArrayLike<number>,
  equivocating: ReadonlySet<number>,
): Float64Array {
  const deltas = new Float64Array(nodeCount);
  const { current, next } = votes;
  const checkEquivocating = equivocating.size > 0;
  for (let v = 0; v < current.length; v++) {
    const from = current[v];
    const to = next[v];
    if (from === NONE && to === NONE) continue;
    const oldBalance = v < oldBalances.length ? oldBalances[v] : 0;
    if (checkEquivocating && equivocating.has(v)) {
      if (from !== NONE) deltas[from] -= oldBalance;
      votes.clear(v);
      continue;
    }
    const newBalance = v < newBalances.length ? newBalances[v] : 0;
    if (from === to && oldBalance === newBalance) continue;
    if (from !== NONE) deltas[from] -= oldBalance;
    if (to !== NONE) deltas[to] += newBalance;
    current[v] = to;
  }
  return deltas;
}
