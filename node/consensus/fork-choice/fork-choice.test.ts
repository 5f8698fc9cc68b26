/**
 * Fork choice on the minimal preset (8 slots per epoch, 40% proposer boost): LMD-GHOST heads
 * and weights, latest-message votes, balance changes, proposer boost, FFG viability (including
 * the Electra two-epoch voting-source rule and pull-up tips), finalization and pruning,
 * equivocations, the block/attestation checks of the spec, tree queries, agreement with a
 * literal transcription of the spec's get_head / get_weight on random trees, and the cost of
 * get_head on 1,000 blocks with 1,024 validators.
 */
import { describe, expect, it } from "vitest";
import { ForkChoiceErrorCode } from "./errors.ts";
import { ForkChoice } from "./fork-choice.ts";
import type { BlockSummary, Checkpoint, RootHex } from "./interface.ts";

const SLOTS_PER_EPOCH = 8;
const config = { slotsPerEpoch: SLOTS_PER_EPOCH, proposerScoreBoost: 40 };
const ZERO: RootHex = `0x${"00".repeat(32)}`;
/** Effective balance of every test validator, in effective-balance increments (32 oGPU). */
const BALANCE = 32;

/** A 32-byte root whose hex ends in `tag` (tags order roots the way ties are broken). */
function root(tag: string): RootHex {
  return `0x${tag.padStart(64, "0")}`;
}

const GENESIS = root("e0");

function cp(epoch: number, blockRoot: RootHex): Checkpoint {
  return { epoch, root: blockRoot };
}

const GENESIS_CP = cp(0, GENESIS);

interface Checkpoints {
  justified?: Checkpoint;
  finalized?: Checkpoint;
  unrealizedJustified?: Checkpoint;
  unrealizedFinalized?: Checkpoint;
}

function block(slot: number, blockRoot: RootHex, parentRoot: RootHex, c: Checkpoints = {}): BlockSummary {
  const justified = c.justified ?? GENESIS_CP;
  const finalized = c.finalized ?? GENESIS_CP;
  return {
    slot,
    blockRoot,
    parentRoot,
    stateRoot: blockRoot,
    executionBlockHash: ZERO,
    executionBlockNumber: slot,
    justifiedCheckpoint: justified,
    finalizedCheckpoint: finalized,
    unrealizedJustifiedCheckpoint: c.unrealizedJustified ?? justified,
    unrealizedFinalizedCheckpoint: c.unrealizedFinalized ?? finalized,
    targetRoot: ZERO,
  };
}

function newForkChoice(currentSlot: number): ForkChoice {
  return new ForkChoice({ config, anchor: block(0, GENESIS, ZERO), currentSlot });
}

function balances(count: number, value = BALANCE): number[] {
  return new Array<number>(count).fill(value);
}

function vote(
  fc: ForkChoice,
  validators: number[],
  slot: number,
  blockRoot: RootHex,
  target: Checkpoint,
  isFromBlock = false,
): void {
  fc.onAttestation(validators, { slot, blockRoot, target }, { isFromBlock });
}

/** The code of the ForkChoiceError `fn` throws. */
function errorCode(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error && "code" in err && typeof err.code === "string") return err.code;
    throw err;
  }
  throw new Error("expected a ForkChoiceError");
}

describe("ForkChoice: LMD-GHOST", () => {
  it("follows a linear chain to its tip", () => {
    const fc = newForkChoice(5);
    let parent = GENESIS;
    for (let slot = 1; slot <= 5; slot++) {
      fc.onBlock(block(slot, root(`b${slot}`), parent), { isTimely: false });
      parent = root(`b${slot}`);
    }
    expect(fc.getHead().blockRoot).toBe(GENESIS);
    expect(fc.updateHead(balances(4)).blockRoot).toBe(root("b5"));
    expect(fc.getHead().slot).toBe(5);
    expect(fc.getHeads().map((b) => b.blockRoot)).toEqual([root("b5")]);
    expect(fc.getWeight(GENESIS)).toBe(0);
    expect(fc.getSafeBeaconBlockRoot()).toBe(GENESIS);
    expect(fc.store).toEqual({
      currentSlot: 5,
      justifiedCheckpoint: GENESIS_CP,
      finalizedCheckpoint: GENESIS_CP,
      unrealizedJustifiedCheckpoint: GENESIS_CP,
      unrealizedFinalizedCheckpoint: GENESIS_CP,
      proposerBoostRoot: null,
    });
  });

  it("lets votes decide between two forks, ties going to the higher root", () => {
    const fc = newForkChoice(3);
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(2, root("a2"), root("a1")), { isTimely: false });
    fc.onBlock(block(1, root("b1"), GENESIS), { isTimely: false });
    // No votes: a1 and b1 weigh 0, b1 has the higher root.
    expect(fc.updateHead(balances(4)).blockRoot).toBe(root("b1"));

    vote(fc, [0, 1, 2], 2, root("a2"), GENESIS_CP);
    vote(fc, [3], 2, root("b1"), GENESIS_CP);
    expect(fc.updateHead(balances(4)).blockRoot).toBe(root("a2"));
    expect(fc.getWeight(root("a2"))).toBe(3 * BALANCE);
    expect(fc.getWeight(root("a1"))).toBe(3 * BALANCE);
    expect(fc.getWeight(root("b1"))).toBe(BALANCE);
    expect(fc.getWeight(GENESIS)).toBe(4 * BALANCE);
    expect(
      fc
        .getHeads()
        .map((b) => b.blockRoot)
        .sort(),
    ).toEqual([root("a2"), root("b1")]);
  });

  it("moves a validator's vote only for a later target epoch", () => {
    const fc = newForkChoice(10); // epoch 1
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(2, root("b1"), GENESIS), { isTimely: false });

    vote(fc, [0], 3, root("a1"), GENESIS_CP);
    expect(fc.updateHead(balances(1)).blockRoot).toBe(root("a1"));
    expect(fc.getWeight(root("a1"))).toBe(BALANCE);

    // Epoch 1: the checkpoint block of b1 at slot 8 is b1 itself.
    vote(fc, [0], 9, root("b1"), cp(1, root("b1")));
    expect(fc.updateHead(balances(1)).blockRoot).toBe(root("b1"));
    expect(fc.getWeight(root("a1"))).toBe(0);
    expect(fc.getWeight(root("b1"))).toBe(BALANCE);

    // An older epoch, and the same epoch again, do not move it back.
    vote(fc, [0], 4, root("a1"), GENESIS_CP);
    vote(fc, [0], 9, root("a1"), cp(1, root("a1")));
    expect(fc.updateHead(balances(1)).blockRoot).toBe(root("b1"));
    expect(fc.getWeight(root("a1"))).toBe(0);
    expect(fc.getWeight(root("b1"))).toBe(BALANCE);
  });

  it("reweights votes when the justified balances change", () => {
    const fc = newForkChoice(3);
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(1, root("b1"), GENESIS), { isTimely: false });
    vote(fc, [0], 2, root("a1"), GENESIS_CP);
    vote(fc, [1], 2, root("b1"), GENESIS_CP);

    expect(fc.updateHead([10, 20]).blockRoot).toBe(root("b1"));
    expect([fc.getWeight(root("a1")), fc.getWeight(root("b1")), fc.getWeight(GENESIS)]).toEqual([10, 20, 30]);

    expect(fc.updateHead(new Uint16Array([30, 20])).blockRoot).toBe(root("a1"));
    expect([fc.getWeight(root("a1")), fc.getWeight(root("b1")), fc.getWeight(GENESIS)]).toEqual([30, 20, 50]);

    // Validator 0 leaves the active set (weight 0).
    expect(fc.updateHead([0, 20]).blockRoot).toBe(root("b1"));
    expect([fc.getWeight(root("a1")), fc.getWeight(root("b1")), fc.getWeight(GENESIS)]).toEqual([0, 20, 20]);

    expect(errorCode(() => fc.updateHead([-1, 20]))).toBe(ForkChoiceErrorCode.INVALID_BALANCES);
  });

  it("applies a vote from the current slot only once that slot is past", () => {
    const fc = newForkChoice(2);
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(1, root("b1"), GENESIS), { isTimely: false });
    vote(fc, [0, 1], 2, root("a1"), GENESIS_CP);
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("b1"));
    expect(fc.getWeight(root("a1"))).toBe(0);
    fc.updateTime(3);
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("a1"));
    expect(fc.getWeight(root("a1"))).toBe(2 * BALANCE);
  });
});

describe("ForkChoice: proposer boost", () => {
  // 32 validators x 32 = 1,024; committee weight 1,024 / 8 = 128; boost floor(128 * 40 / 100) = 51.
  const VALIDATORS = 32;
  const BOOST = 51;

  it("makes a timely block of the current slot head, for that slot only", () => {
    const fc = newForkChoice(1);
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    expect(fc.store.proposerBoostRoot).toBeNull(); // not timely
    fc.updateTime(2);
    vote(fc, [0], 1, root("a1"), GENESIS_CP);
    expect(fc.updateHead(balances(VALIDATORS)).blockRoot).toBe(root("a1"));

    // b2 competes with a1 (one vote, 32) and wins with the boost (51).
    fc.onBlock(block(2, root("b2"), GENESIS), { isTimely: true });
    expect(fc.store.proposerBoostRoot).toBe(root("b2"));
    expect(fc.updateHead(balances(VALIDATORS)).blockRoot).toBe(root("b2"));
    expect(fc.getWeight(root("b2"))).toBe(BOOST);
    expect(fc.getWeight(root("a1"))).toBe(BALANCE);
    expect(fc.getWeight(GENESIS)).toBe(BALANCE + BOOST);

    // A second timely block in the same slot gets no boost.
    fc.onBlock(block(2, root("c2"), GENESIS), { isTimely: true });
    expect(fc.store.proposerBoostRoot).toBe(root("b2"));
    expect(fc.updateHead(balances(VALIDATORS)).blockRoot).toBe(root("b2"));
    expect(fc.getWeight(root("c2"))).toBe(0);

    // Next slot: the boost is gone and a1's vote decides again.
    fc.updateTime(3);
    expect(fc.store.proposerBoostRoot).toBeNull();
    expect(fc.updateHead(balances(VALIDATORS)).blockRoot).toBe(root("a1"));
    expect(fc.getWeight(root("b2"))).toBe(0);
    expect(fc.getWeight(GENESIS)).toBe(BALANCE);

    // A "timely" block from an earlier slot than the current one gets no boost.
    fc.onBlock(block(2, root("d2"), GENESIS), { isTimely: true });
    expect(fc.store.proposerBoostRoot).toBeNull();
  });
});

describe("ForkChoice: justification and finalization", () => {
  it("does not choose a branch whose voting source is neither the store's nor within two epochs", () => {
    const fc = newForkChoice(40); // epoch 5
    fc.onBlock(block(8, root("a8"), GENESIS), { isTimely: false });
    fc.onBlock(block(16, root("a16"), root("a8")), { isTimely: false });
    fc.onBlock(
      block(24, root("a24"), root("a16"), { justified: cp(2, root("a16")), finalized: cp(1, root("a8")) }),
      {
        isTimely: false,
      },
    );
    fc.onBlock(
      block(33, root("a33"), root("a24"), { justified: cp(3, root("a24")), finalized: cp(2, root("a16")) }),
      { isTimely: false },
    );
    // Branch B builds on the justified block a24 but its state never saw epoch 3 justified.
    fc.onBlock(
      block(34, root("b34"), root("a24"), { justified: cp(2, root("a16")), finalized: cp(1, root("a8")) }),
      { isTimely: false },
    );
    expect(fc.store.justifiedCheckpoint).toEqual(cp(3, root("a24")));
    expect(fc.store.finalizedCheckpoint).toEqual(cp(2, root("a16")));

    vote(fc, [0, 1, 2], 35, root("b34"), cp(4, root("a24")));
    vote(fc, [3], 35, root("a33"), cp(4, root("a24")));
    // Epoch 5: b34's voting source (epoch 2) is neither 3 nor within two epochs.
    expect(fc.updateHead(balances(4)).blockRoot).toBe(root("a33"));
    expect(fc.getWeight(root("b34"))).toBe(3 * BALANCE);
    expect(fc.getWeight(root("a33"))).toBe(BALANCE);
    expect(fc.getWeight(root("a24"))).toBe(4 * BALANCE);
    expect(fc.getSafeBeaconBlockRoot()).toBe(root("a24"));
  });

  it("keeps a branch viable while its voting source is at most two epochs old", () => {
    const fc = newForkChoice(25); // epoch 3
    fc.onBlock(block(8, root("a8"), GENESIS), { isTimely: false });
    fc.onBlock(block(16, root("a16"), root("a8")), { isTimely: false });
    fc.onBlock(block(24, root("a24"), root("a16"), { justified: cp(2, root("a16")) }), { isTimely: false });
    fc.onBlock(block(17, root("b17"), root("a16"), { justified: cp(1, root("a8")) }), { isTimely: false });
    expect(fc.store.justifiedCheckpoint).toEqual(cp(2, root("a16")));

    vote(fc, [0, 1], 24, root("b17"), cp(3, root("b17")));
    vote(fc, [2], 24, root("a24"), cp(3, root("a24")));
    // Epoch 3: b17's voting source (epoch 1) + 2 >= 3.
    expect(fc.updateHead(balances(3)).blockRoot).toBe(root("b17"));
    // Epoch 4: it is too old now.
    fc.updateTime(32);
    expect(fc.updateHead(balances(3)).blockRoot).toBe(root("a24"));
    expect(fc.getWeight(root("b17"))).toBe(2 * BALANCE);
  });

  it("does not choose a branch that leaves the finalized chain before the finalized epoch starts", () => {
    const fc = newForkChoice(20); // epoch 2
    // b5 forks off genesis at slot 5. The canonical chain skips slots 1-16, so genesis is the
    // checkpoint block of epochs 1 and 2, and epoch 1 gets finalized with root genesis.
    fc.onBlock(block(5, root("b5"), GENESIS), { isTimely: false });
    fc.onBlock(block(17, root("a17"), GENESIS, { justified: cp(2, GENESIS), finalized: cp(1, GENESIS) }), {
      isTimely: false,
    });
    expect(fc.store.finalizedCheckpoint).toEqual(cp(1, GENESIS));
    vote(fc, [0, 1], 5, root("b5"), GENESIS_CP, true);
    // b5 descends from genesis, but its block at the finalized slot (8) is b5, not genesis.
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("a17"));
    expect(fc.getWeight(root("b5"))).toBe(2 * BALANCE);
    expect(fc.getWeight(root("a17"))).toBe(0);
    expect(errorCode(() => fc.onBlock(block(18, root("b18"), root("b5")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.NOT_DESCENDANT_OF_FINALIZED,
    );
  });

  it("realizes unrealized justification at the next epoch start, or at once for a block of a past epoch", () => {
    const fc = newForkChoice(12); // epoch 1
    fc.onBlock(block(8, root("c8"), GENESIS), { isTimely: false });
    fc.onBlock(block(12, root("c12"), root("c8"), { unrealizedJustified: cp(1, root("c8")) }), {
      isTimely: false,
    });
    expect(fc.store.justifiedCheckpoint).toEqual(GENESIS_CP);
    expect(fc.store.unrealizedJustifiedCheckpoint).toEqual(cp(1, root("c8")));
    fc.updateTime(15);
    expect(fc.store.justifiedCheckpoint).toEqual(GENESIS_CP);
    fc.updateTime(16);
    expect(fc.store.justifiedCheckpoint).toEqual(cp(1, root("c8")));
    expect(fc.getSafeBeaconBlockRoot()).toBe(root("c8"));

    const late = newForkChoice(17); // epoch 2: the same blocks arrive after their epoch
    late.onBlock(block(8, root("c8"), GENESIS), { isTimely: false });
    late.onBlock(block(12, root("c12"), root("c8"), { unrealizedJustified: cp(1, root("c8")) }), {
      isTimely: false,
    });
    expect(late.store.justifiedCheckpoint).toEqual(cp(1, root("c8")));
    expect(late.store.unrealizedJustifiedCheckpoint).toEqual(cp(1, root("c8")));
  });

  it("prunes below finality and rejects blocks that do not descend from it", () => {
    const fc = newForkChoice(30); // epoch 3
    fc.onBlock(block(3, root("s3"), GENESIS), { isTimely: false });
    fc.onBlock(block(8, root("f8"), GENESIS), { isTimely: false });
    fc.onBlock(block(16, root("f16"), root("f8"), { justified: cp(1, root("f8")) }), { isTimely: false });
    fc.onBlock(
      block(24, root("f24"), root("f16"), { justified: cp(2, root("f16")), finalized: cp(1, root("f8")) }),
      {
        isTimely: false,
      },
    );
    expect(fc.store.finalizedCheckpoint).toEqual(cp(1, root("f8")));

    expect(errorCode(() => fc.onBlock(block(10, root("x10"), root("s3")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.NOT_DESCENDANT_OF_FINALIZED,
    );
    expect(errorCode(() => fc.onBlock(block(7, root("x7"), GENESIS), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.FINALIZED_SLOT,
    );

    vote(fc, [0], 24, root("f24"), cp(3, root("f24")));
    vote(fc, [1], 3, root("s3"), GENESIS_CP, true);
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("f24"));
    expect(fc.getWeight(GENESIS)).toBe(2 * BALANCE);

    const pruned = fc.prune().map((b) => b.blockRoot);
    expect(pruned).toEqual([GENESIS, root("s3")]);
    expect(fc.hasBlock(GENESIS)).toBe(false);
    expect(fc.getBlock(root("s3"))).toBeUndefined();
    expect(fc.getHeads().map((b) => b.blockRoot)).toEqual([root("f24")]);
    expect([...fc.iterateAncestors(root("f24"))].map((b) => b.blockRoot)).toEqual([root("f24"), root("f16")]);
    expect(fc.prune()).toEqual([]);

    // Votes survive the compaction; the one for the dropped fork is gone.
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("f24"));
    expect(fc.getWeight(root("f8"))).toBe(BALANCE);
    vote(fc, [1], 25, root("f24"), cp(3, root("f24")));
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("f24"));
    expect(fc.getWeight(root("f8"))).toBe(2 * BALANCE);
    expect(fc.getWeight(root("f24"))).toBe(2 * BALANCE);

    expect(errorCode(() => fc.onBlock(block(11, root("x11"), root("s3")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.UNKNOWN_PARENT,
    );
    // GHOST follows the only child down to the tip, votes or not.
    fc.onBlock(
      block(25, root("f25"), root("f24"), { justified: cp(2, root("f16")), finalized: cp(1, root("f8")) }),
      {
        isTimely: false,
      },
    );
    expect(fc.updateHead(balances(2)).blockRoot).toBe(root("f25"));
    expect(fc.getHeads().map((b) => b.blockRoot)).toEqual([root("f25")]);
  });
});

describe("ForkChoice: equivocations", () => {
  it("removes and keeps ignoring the weight of equivocating validators", () => {
    const fc = newForkChoice(10);
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(1, root("b1"), GENESIS), { isTimely: false });
    vote(fc, [0, 1], 2, root("b1"), GENESIS_CP);
    vote(fc, [2], 2, root("a1"), GENESIS_CP);
    expect(fc.updateHead(balances(3)).blockRoot).toBe(root("b1"));
    expect(fc.getWeight(root("b1"))).toBe(2 * BALANCE);

    fc.onAttesterSlashing([0, 1]);
    expect(fc.updateHead(balances(3)).blockRoot).toBe(root("a1"));
    expect(fc.getWeight(root("b1"))).toBe(0);
    expect(fc.getWeight(GENESIS)).toBe(BALANCE);

    vote(fc, [0], 9, root("b1"), cp(1, root("b1")));
    expect(fc.updateHead(balances(3)).blockRoot).toBe(root("a1"));
    expect(fc.getWeight(root("b1"))).toBe(0);
  });
});

describe("ForkChoice: block and attestation checks", () => {
  function forkChoiceWithChain(): ForkChoice {
    const fc = newForkChoice(10); // epoch 1
    fc.onBlock(block(1, root("a1"), GENESIS), { isTimely: false });
    fc.onBlock(block(9, root("a9"), root("a1")), { isTimely: false });
    return fc;
  }

  it("refuses blocks with an unknown parent, from a future slot, or not after their parent", () => {
    const fc = forkChoiceWithChain();
    expect(errorCode(() => fc.onBlock(block(5, root("x5"), root("dead")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.UNKNOWN_PARENT,
    );
    expect(errorCode(() => fc.onBlock(block(11, root("x11"), root("a9")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.FUTURE_SLOT,
    );
    expect(errorCode(() => fc.onBlock(block(9, root("x9"), root("a9")), { isTimely: false }))).toBe(
      ForkChoiceErrorCode.INVALID_BLOCK,
    );
    expect(fc.hasBlock(root("x5"))).toBe(false);
    // A known block is ignored.
    fc.onBlock(block(9, root("a9"), root("a1")), { isTimely: false });
    expect(fc.getHeads().map((b) => b.blockRoot)).toEqual([root("a9")]);
  });

  it("refuses attestations with unknown blocks, out-of-range epochs or inconsistent data", () => {
    const fc = forkChoiceWithChain();
    const att =
      (slot: number, blockRoot: RootHex, target: Checkpoint, isFromBlock = false) =>
      () =>
        vote(fc, [0], slot, blockRoot, target, isFromBlock);

    expect(errorCode(att(9, root("a9"), cp(1, root("dead"))))).toBe(ForkChoiceErrorCode.UNKNOWN_TARGET);
    expect(errorCode(att(9, root("dead"), cp(1, root("a9"))))).toBe(ForkChoiceErrorCode.UNKNOWN_HEAD_BLOCK);
    expect(errorCode(att(16, root("a9"), cp(2, root("a9"))))).toBe(ForkChoiceErrorCode.FUTURE_EPOCH);
    expect(errorCode(att(16, root("a9"), cp(2, root("a9")), true))).toBe(ForkChoiceErrorCode.FUTURE_EPOCH);
    // Slot and target epoch disagree.
    expect(errorCode(att(7, root("a1"), cp(1, root("a1"))))).toBe(ForkChoiceErrorCode.INVALID_ATTESTATION);
    // The attested block is newer than the attestation.
    expect(errorCode(att(8, root("a9"), cp(1, root("a9"))))).toBe(ForkChoiceErrorCode.INVALID_ATTESTATION);
    // The target is not the attested block's checkpoint block (a9's block at slot 8 is a1).
    expect(errorCode(att(9, root("a9"), cp(1, GENESIS)))).toBe(ForkChoiceErrorCode.INVALID_ATTESTATION);
    expect(errorCode(att(2, root("a1"), cp(0, root("a1"))))).toBe(ForkChoiceErrorCode.INVALID_ATTESTATION);

    const late = forkChoiceWithChain();
    late.updateTime(24); // epoch 3: epoch 1 is no longer previous
    expect(errorCode(() => vote(late, [0], 9, root("a9"), cp(1, root("a1"))))).toBe(
      ForkChoiceErrorCode.PAST_EPOCH,
    );
    // From a block, an older target is accepted.
    vote(late, [0], 9, root("a9"), cp(1, root("a1")), true);
    expect(late.updateHead(balances(1)).blockRoot).toBe(root("a9"));
    expect(late.getWeight(root("a9"))).toBe(BALANCE);
  });
});

describe("ForkChoice: tree queries", () => {
  it("answers getAncestor, isDescendant and iterateAncestors", () => {
    const fc = newForkChoice(6);
    fc.onBlock(block(1, root("b1"), GENESIS), { isTimely: false });
    fc.onBlock(block(2, root("b2"), root("b1")), { isTimely: false });
    fc.onBlock(block(5, root("b5"), root("b2")), { isTimely: false }); // slots 3 and 4 skipped
    fc.onBlock(block(2, root("c2"), root("b1")), { isTimely: false });

    expect(fc.getAncestor(root("b5"), 5)).toBe(root("b5"));
    expect(fc.getAncestor(root("b5"), 6)).toBe(root("b5"));
    expect(fc.getAncestor(root("b5"), 4)).toBe(root("b2"));
    expect(fc.getAncestor(root("b5"), 1)).toBe(root("b1"));
    expect(fc.getAncestor(root("b5"), 0)).toBe(GENESIS);
    expect(fc.getAncestor(root("c2"), 1)).toBe(root("b1"));
    expect(fc.getAncestor(root("dead"), 1)).toBeUndefined();

    expect(fc.isDescendant(root("b1"), root("b5"))).toBe(true);
    expect(fc.isDescendant(GENESIS, root("c2"))).toBe(true);
    expect(fc.isDescendant(root("b5"), root("b5"))).toBe(true);
    expect(fc.isDescendant(root("b5"), root("b1"))).toBe(false);
    expect(fc.isDescendant(root("c2"), root("b5"))).toBe(false);
    expect(fc.isDescendant(root("b2"), root("c2"))).toBe(false);
    expect(fc.isDescendant(root("dead"), root("b5"))).toBe(false);

    expect([...fc.iterateAncestors(root("b5"))].map((b) => b.blockRoot)).toEqual([
      root("b5"),
      root("b2"),
      root("b1"),
    ]);
    expect(
      fc
        .getHeads()
        .map((b) => b.blockRoot)
        .sort(),
    ).toEqual([root("b5"), root("c2")]);
    expect(fc.getBlock(root("b5"))?.parentRoot).toBe(root("b2"));
  });
});

/** Deterministic PRNG (mulberry32), so a failing scenario can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The spec's get_head written literally (filter_block_tree recursion, get_weight summing every
 * latest message through get_ancestor): slow, obviously faithful, used as the oracle.
 */
class SpecOracle {
  readonly blocks = new Map<RootHex, BlockSummary>();
  readonly latest = new Map<number, { epoch: number; root: RootHex }>();
  readonly equivocating = new Set<number>();

  ancestor(blockRoot: RootHex, slot: number): RootHex {
    let b = this.blocks.get(blockRoot)!;
    while (b.slot > slot) b = this.blocks.get(b.parentRoot)!;
    return b.blockRoot;
  }

  weight(blockRoot: RootHex, fc: ForkChoice, balances: number[]): number {
    const slot = this.blocks.get(blockRoot)!.slot;
    let w = 0;
    for (const [v, msg] of this.latest) {
      if (!this.equivocating.has(v) && this.ancestor(msg.root, slot) === blockRoot) w += balances[v] ?? 0;
    }
    const boostRoot = fc.store.proposerBoostRoot;
    if (boostRoot !== null && this.ancestor(boostRoot, slot) === blockRoot) {
      const total = balances.reduce((a, b) => a + b, 0);
      w += Math.floor((Math.floor(total / SLOTS_PER_EPOCH) * 40) / 100);
    }
    return w;
  }

  head(fc: ForkChoice, balances: number[]): RootHex {
    const store = fc.store;
    const currentEpoch = Math.floor(store.currentSlot / SLOTS_PER_EPOCH);
    const children = (r: RootHex) =>
      [...this.blocks.values()].filter((b) => b.parentRoot === r && b.blockRoot !== r);
    const viable = new Set<RootHex>();
    const filter = (r: RootHex): boolean => {
      const kids = children(r);
      if (kids.length > 0) {
        const results = kids.map((k) => filter(k.blockRoot));
        if (results.some((x) => x)) viable.add(r);
        return results.some((x) => x);
      }
      const b = this.blocks.get(r)!;
      const source =
        Math.floor(b.slot / SLOTS_PER_EPOCH) < currentEpoch
          ? b.unrealizedJustifiedCheckpoint
          : b.justifiedCheckpoint;
      const justifiedOk =
        store.justifiedCheckpoint.epoch === 0 ||
        source.epoch === store.justifiedCheckpoint.epoch ||
        source.epoch + 2 >= currentEpoch;
      const fin = store.finalizedCheckpoint;
      const finalizedOk = fin.epoch === 0 || this.ancestor(r, fin.epoch * SLOTS_PER_EPOCH) === fin.root;
      if (justifiedOk && finalizedOk) viable.add(r);
      return justifiedOk && finalizedOk;
    };
    filter(store.justifiedCheckpoint.root);
    let head = store.justifiedCheckpoint.root;
    for (;;) {
      const kids = children(head).filter((k) => viable.has(k.blockRoot));
      if (kids.length === 0) return head;
      let best = kids[0].blockRoot;
      let bestWeight = this.weight(best, fc, balances);
      for (const k of kids.slice(1)) {
        const w = this.weight(k.blockRoot, fc, balances);
        if (w > bestWeight || (w === bestWeight && k.blockRoot > best)) {
          best = k.blockRoot;
          bestWeight = w;
        }
      }
      head = best;
    }
  }
}

describe("ForkChoice: against the spec's literal get_head", () => {
  it("agrees on head and every weight over random block trees, votes, balances and time", () => {
    const VALIDATORS = 16;
    const SLOTS = 56; // seven epochs, so justification moves and viability changes with time
    let checks = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const rand = prng(seed);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
      const fc = newForkChoice(0);
      const oracle = new SpecOracle();
      oracle.blocks.set(GENESIS, block(0, GENESIS, ZERO));
      let balancesNow = balances(VALIDATORS);
      let n = 0;
      for (let slot = 1; slot <= SLOTS; slot++) {
        fc.updateTime(slot);
        const epoch = Math.floor(slot / SLOTS_PER_EPOCH);
        const blockCount = Math.floor(rand() * 3);
        for (let i = 0; i < blockCount; i++) {
          const parent = pick(
            [...oracle.blocks.values()].filter((b) => b.slot < slot && b.slot >= slot - 12),
          );
          if (parent === undefined) continue;
          const blockRoot = root(`${(++n).toString(16)}${seed.toString(16).padStart(2, "0")}`);
          // Checkpoints never go back along a chain; now and then this block justifies (and
          // finalizes) something newer, as a real post-state would.
          const checkpointAt = (e: number) =>
            cp(e, e === 0 ? GENESIS : oracle.ancestor(parent.blockRoot, e * 8));
          let justified = parent.justifiedCheckpoint;
          let finalized = parent.finalizedCheckpoint;
          if (epoch >= 1 && rand() < 0.3) {
            const e = Math.max(justified.epoch, epoch - 1 - Math.floor(rand() * 2));
            if (e > justified.epoch) {
              finalized = justified.epoch > finalized.epoch && rand() < 0.6 ? justified : finalized;
              justified = checkpointAt(e);
            }
          }
          const unrealizedJustified =
            rand() < 0.3 && epoch > justified.epoch
              ? checkpointAt(Math.max(justified.epoch, epoch - 1))
              : justified;
          const b = block(slot, blockRoot, parent.blockRoot, { justified, finalized, unrealizedJustified });
          try {
            fc.onBlock(b, { isTimely: rand() < 0.5 });
            oracle.blocks.set(blockRoot, b);
          } catch (err) {
            const code = err instanceof Error && "code" in err ? err.code : err;
            expect(code).toBe(ForkChoiceErrorCode.NOT_DESCENDANT_OF_FINALIZED);
          }
        }
        // Attestations from the previous slot for random known blocks.
        const attSlot = slot - 1;
        const targetEpoch = Math.floor(attSlot / SLOTS_PER_EPOCH);
        for (let v = 0; v < VALIDATORS; v++) {
          if (rand() < 0.5) continue;
          const candidates = [...oracle.blocks.values()].filter((b) => b.slot <= attSlot);
          const target = pick(candidates);
          const t = cp(targetEpoch, oracle.ancestor(target.blockRoot, targetEpoch * SLOTS_PER_EPOCH));
          vote(fc, [v], attSlot, target.blockRoot, t);
          const prev = oracle.latest.get(v);
          if (!oracle.equivocating.has(v) && (prev === undefined || targetEpoch > prev.epoch)) {
            oracle.latest.set(v, { epoch: targetEpoch, root: target.blockRoot });
          }
        }
        if (rand() < 0.05) {
          const v = Math.floor(rand() * VALIDATORS);
          fc.onAttesterSlashing([v]);
          oracle.equivocating.add(v);
        }
        if (rand() < 0.2) balancesNow = balancesNow.map(() => Math.floor(rand() * 40));

        const head = fc.updateHead(balancesNow).blockRoot;
        expect(head, `seed ${seed} slot ${slot}`).toBe(oracle.head(fc, balancesNow));
        for (const r of oracle.blocks.keys()) {
          expect(fc.getWeight(r), `seed ${seed} slot ${slot} weight`).toBe(oracle.weight(r, fc, balancesNow));
        }
        checks++;
      }
    }
    expect(checks).toBe(30 * 56);
  });
});

describe("ForkChoice: cost of get_head", () => {
  it("computes the head of 1,000 blocks with 1,024 validators in well under 10 ms", () => {
    const BLOCKS = 1_000;
    const VALIDATORS = 1_024;
    const CALLS = 200;
    const fc = newForkChoice(BLOCKS + 1);
    const mainRoot = (slot: number) => root(`1${slot.toString(16).padStart(6, "0")}`);
    let parent = GENESIS;
    for (let slot = 1; slot <= BLOCKS; slot++) {
      fc.onBlock(block(slot, mainRoot(slot), parent), { isTimely: false });
      // A losing side block every 50 slots, so the tree has forks to weigh.
      if (slot % 50 === 0)
        fc.onBlock(block(slot, root(`2${slot.toString(16)}`), parent), { isTimely: false });
      parent = mainRoot(slot);
    }
    // Every validator votes for one of the last epoch's blocks (epoch 124: slots 992-999).
    const epochStart = 992;
    for (let v = 0; v < VALIDATORS; v++) {
      const slot = epochStart + (v % SLOTS_PER_EPOCH);
      vote(fc, [v], slot, mainRoot(slot), cp(124, mainRoot(epochStart)));
    }
    const even = balances(VALIDATORS);
    const odd = balances(VALIDATORS, BALANCE - 1);
    expect(fc.updateHead(even).blockRoot).toBe(mainRoot(BLOCKS));

    // Alternate balances so every validator yields a delta on every call (the worst case).
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) fc.updateHead(i % 2 === 0 ? odd : even);
    const perCallMs = (performance.now() - start) / CALLS;
    console.log(
      `fork choice updateHead: ${perCallMs.toFixed(3)} ms per call (${BLOCKS + BLOCKS / 50} blocks, ${VALIDATORS} validators, ${CALLS} calls)`,
    );

    expect(fc.getHead().blockRoot).toBe(mainRoot(BLOCKS));
    expect(fc.getWeight(GENESIS)).toBe(VALIDATORS * BALANCE);
    expect(fc.getWeight(mainRoot(999))).toBe((VALIDATORS / SLOTS_PER_EPOCH) * BALANCE);
    expect(fc.getWeight(root(`2${(50).toString(16)}`))).toBe(0);
  });
});
