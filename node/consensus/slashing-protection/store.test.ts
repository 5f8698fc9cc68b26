import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SlashingProtectionErrorCode as Code } from "./errors.ts";
import { SlashingProtection } from "./store.ts";

/** A 48-byte pubkey whose first byte is `n`. */
function pk(n: number): Uint8Array {
  const out = new Uint8Array(48);
  out[0] = n;
  return out;
}

/** A 32-byte signing root whose last byte is `n`. */
function root(n: number): Uint8Array {
  const out = new Uint8Array(32);
  out[31] = n;
  return out;
}

const GVR = root(0xaa);

let dir: string;
let sp: SlashingProtection;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-sp-"));
  sp = await SlashingProtection.open(join(dir, "slashing-protection"), { genesisValidatorsRoot: GVR });
});

afterEach(async () => {
  await sp.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("block proposals", () => {
  it("records a block, allows the identical block again and refuses a different one at the same slot", async () => {
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) })).toBe("new");
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) })).toBe("repeat");
    const err = await sp
      .checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(2) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: "SlashingProtectionError",
      code: Code.DOUBLE_BLOCK_PROPOSAL,
      meta: { slot: 10, existingSigningRoot: `0x${"00".repeat(31)}01` },
    });
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 11, signingRoot: root(2) })).toBe("new");
  });

  it("refuses a block at or below the lowest recorded slot but allows an unsigned slot above it", async () => {
    await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) });
    await sp.checkAndInsertBlockProposal(pk(1), { slot: 20, signingRoot: root(2) });
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 9, signingRoot: root(3) }),
    ).rejects.toMatchObject({
      code: Code.BLOCK_SLOT_TOO_LOW,
      meta: { slot: 9, lowerBound: 10 },
    });
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 0, signingRoot: root(3) }),
    ).rejects.toMatchObject({
      code: Code.BLOCK_SLOT_TOO_LOW,
    });
    // Slot 15 was never signed and is above the lowest slot: not slashable.
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 15, signingRoot: root(3) })).toBe("new");
  });

  it("keeps validators apart", async () => {
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) })).toBe("new");
    expect(await sp.checkAndInsertBlockProposal(pk(2), { slot: 10, signingRoot: root(2) })).toBe("new");
    expect(
      await sp.checkAndInsertBlockProposal(pk(2), { slot: 5, signingRoot: root(2) }).catch((e) => e.code),
    ).toBe(Code.BLOCK_SLOT_TOO_LOW);
    expect((await sp.listPubkeys()).map((p) => p[0])).toEqual([1, 2]);
  });

  it("rejects malformed input", async () => {
    await expect(
      sp.checkAndInsertBlockProposal(new Uint8Array(47), { slot: 1, signingRoot: root(1) }),
    ).rejects.toMatchObject({
      code: Code.INVALID_INPUT,
      message: "pubkey must be 48 bytes",
    });
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: -1, signingRoot: root(1) }),
    ).rejects.toMatchObject({
      code: Code.INVALID_INPUT,
    });
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 1, signingRoot: new Uint8Array(31) }),
    ).rejects.toMatchObject({
      code: Code.INVALID_INPUT,
    });
  });
});

describe("attestations", () => {
  it("allows the identical attestation again and refuses a double vote", async () => {
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 1, signingRoot: root(1) }),
    ).toBe("new");
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 1, signingRoot: root(1) }),
    ).toBe("repeat");
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 1, signingRoot: root(2) }),
    ).rejects.toMatchObject({
      code: Code.DOUBLE_VOTE,
      meta: {
        targetEpoch: 1,
        existing: [{ sourceEpoch: 0, targetEpoch: 1, signingRoot: `0x${"00".repeat(31)}01` }],
      },
    });
    // Same target, another source: also a double vote.
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 1, targetEpoch: 1, signingRoot: root(1) }),
    ).rejects.toMatchObject({ code: Code.DOUBLE_VOTE });
  });

  it("refuses a vote that surrounds a recorded one", async () => {
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 2, targetEpoch: 3, signingRoot: root(1) });
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 3, targetEpoch: 4, signingRoot: root(2) });
    // Recorded bounds are source 2 / target 3, so 2->6 passes them and surrounds 3->4.
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 2, targetEpoch: 6, signingRoot: root(3) }),
    ).rejects.toMatchObject({
      code: Code.SURROUNDING_VOTE,
      meta: { sourceEpoch: 2, targetEpoch: 6, existing: { sourceEpoch: 3, targetEpoch: 4 } },
    });
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 4, targetEpoch: 6, signingRoot: root(3) }),
    ).toBe("new");
  });

  it("refuses a vote surrounded by a recorded one", async () => {
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 2, signingRoot: root(1) });
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 1, targetEpoch: 10, signingRoot: root(2) });
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 3, targetEpoch: 5, signingRoot: root(3) }),
    ).rejects.toMatchObject({
      code: Code.SURROUNDED_VOTE,
      meta: { existing: { sourceEpoch: 1, targetEpoch: 10 } },
    });
    // Same source as 1->10 and a lower target: neither surrounds the other, and target 5 is new.
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 1, targetEpoch: 5, signingRoot: root(4) }),
    ).toBe("new");
  });

  it("refuses source after target, and sources / targets below the lowest recorded", async () => {
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 5, targetEpoch: 4, signingRoot: root(1) }),
    ).rejects.toMatchObject({ code: Code.SOURCE_AFTER_TARGET });
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 5, targetEpoch: 6, signingRoot: root(1) });
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 4, targetEpoch: 7, signingRoot: root(2) }),
    ).rejects.toMatchObject({ code: Code.SOURCE_EPOCH_TOO_LOW, meta: { sourceEpoch: 4, lowerBound: 5 } });
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 5, targetEpoch: 5, signingRoot: root(2) }),
    ).rejects.toMatchObject({ code: Code.TARGET_EPOCH_TOO_LOW, meta: { targetEpoch: 5, lowerBound: 6 } });
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 6, targetEpoch: 7, signingRoot: root(2) }),
    ).toBe("new");
  });

  it("allows the genesis vote 0->0 once", async () => {
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 0, signingRoot: root(1) }),
    ).toBe("new");
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 0, signingRoot: root(2) }),
    ).rejects.toMatchObject({ code: Code.DOUBLE_VOTE });
  });
});

describe("persistence", () => {
  it("keeps every record and bound across close and reopen", async () => {
    await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) });
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 2, targetEpoch: 3, signingRoot: root(2) });
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 3, targetEpoch: 4, signingRoot: root(3) });
    await sp.close();
    sp = await SlashingProtection.open(join(dir, "slashing-protection"), { genesisValidatorsRoot: GVR });
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(1) })).toBe("repeat");
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 10, signingRoot: root(9) }),
    ).rejects.toMatchObject({
      code: Code.DOUBLE_BLOCK_PROPOSAL,
    });
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 9, signingRoot: root(9) }),
    ).rejects.toMatchObject({
      code: Code.BLOCK_SLOT_TOO_LOW,
    });
    expect(
      await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 3, targetEpoch: 4, signingRoot: root(3) }),
    ).toBe("repeat");
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 3, targetEpoch: 4, signingRoot: root(9) }),
    ).rejects.toMatchObject({ code: Code.DOUBLE_VOTE });
    await expect(
      sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 2, targetEpoch: 5, signingRoot: root(9) }),
    ).rejects.toMatchObject({ code: Code.SURROUNDING_VOTE });
    expect(Buffer.from((await sp.genesisValidatorsRoot()) ?? []).toString("hex")).toBe(
      `${"00".repeat(31)}aa`,
    );
  });

  it("refuses to open with another chain's genesis validators root, and a second open of the same directory", async () => {
    await sp.checkAndInsertBlockProposal(pk(1), { slot: 1, signingRoot: root(1) });
    await expect(
      SlashingProtection.open(join(dir, "slashing-protection"), { genesisValidatorsRoot: root(0xbb) }),
    ).rejects.toMatchObject({ code: Code.OPEN_FAILED });
    await sp.close();
    await expect(
      SlashingProtection.open(join(dir, "slashing-protection"), { genesisValidatorsRoot: root(0xbb) }),
    ).rejects.toMatchObject({ code: Code.GENESIS_VALIDATORS_ROOT_MISMATCH });
    sp = await SlashingProtection.open(join(dir, "slashing-protection"));
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 1, signingRoot: root(1) })).toBe("repeat");
  });

  it("refuses calls after close", async () => {
    await sp.close();
    await expect(
      sp.checkAndInsertBlockProposal(pk(1), { slot: 1, signingRoot: root(1) }),
    ).rejects.toMatchObject({
      code: Code.CLOSED,
    });
    sp = await SlashingProtection.open(join(dir, "slashing-protection"));
  });

  it("close waits for checks already running", async () => {
    const pending = Array.from({ length: 10 }, (_, i) =>
      sp.checkAndInsertBlockProposal(pk(1), { slot: 100 + i, signingRoot: root(i) }),
    );
    await sp.close();
    expect(await Promise.all(pending)).toEqual(Array(10).fill("new"));
    sp = await SlashingProtection.open(join(dir, "slashing-protection"));
    expect(await sp.checkAndInsertBlockProposal(pk(1), { slot: 109, signingRoot: root(9) })).toBe("repeat");
  });
});

describe("concurrency", () => {
  it("lets exactly one of many concurrent different blocks at one slot through", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        sp.checkAndInsertBlockProposal(pk(1), { slot: 50, signingRoot: root(i) }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter(
      (r) => r.status === "rejected" && (r.reason as { code: string }).code === Code.DOUBLE_BLOCK_PROPOSAL,
    );
    expect(ok.length).toBe(1);
    expect(refused.length).toBe(19);
  });

  it("lets exactly one of two concurrent conflicting votes through, for every pair", async () => {
    // A first vote keeps the lower bounds (source 0, target 1) below everything that follows.
    await sp.checkAndInsertAttestation(pk(1), { sourceEpoch: 0, targetEpoch: 1, signingRoot: root(0) });
    for (let i = 0; i < 5; i++) {
      const base = i * 10;
      const results = await Promise.allSettled([
        sp.checkAndInsertAttestation(pk(1), {
          sourceEpoch: base + 1,
          targetEpoch: base + 5,
          signingRoot: root(1),
        }),
        sp.checkAndInsertAttestation(pk(1), {
          sourceEpoch: base + 2,
          targetEpoch: base + 4,
          signingRoot: root(2),
        }),
        sp.checkAndInsertAttestation(pk(1), {
          sourceEpoch: base + 1,
          targetEpoch: base + 5,
          signingRoot: root(3),
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
      expect(
        results.map((r) => (r.status === "rejected" ? (r.reason as { code: string }).code : "ok")),
      ).toEqual(["ok", Code.SURROUNDED_VOTE, Code.DOUBLE_VOTE]);
    }
  });

  it("runs different validators independently", async () => {
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        sp.checkAndInsertAttestation(pk(i + 1), { sourceEpoch: 0, targetEpoch: 1, signingRoot: root(i) }),
      ),
    );
    expect(results).toEqual(Array(16).fill("new"));
    expect((await sp.listPubkeys()).length).toBe(16);
  });
});
