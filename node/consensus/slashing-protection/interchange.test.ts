import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SlashingProtectionErrorCode as Code } from "./errors.ts";
import { type Interchange, parseInterchange } from "./interchange.ts";
import { SlashingProtection } from "./store.ts";

const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/^0x/, ""), "hex"));
const ZERO_ROOT = new Uint8Array(32);

function root(n: number): Uint8Array {
  const out = new Uint8Array(32);
  out[31] = n;
  return out;
}

/** The example document of EIP-3076. */
const EIP_EXAMPLE: Interchange = {
  metadata: {
    interchange_format_version: "5",
    genesis_validators_root: "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673",
  },
  data: [
    {
      pubkey:
        "0xb845089a1457f811bfc000588fbb4e713669be8ce060ea6be3c6ece09afc3794106c91ca73acda5e5457122d58723bed",
      signed_blocks: [
        { slot: "81952", signing_root: "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b" },
        { slot: "81951" },
      ],
      signed_attestations: [
        {
          source_epoch: "2290",
          target_epoch: "3007",
          signing_root: "0x587d6a4f59a58fe24f406e0502413e77fe1babddee641fda30034ed37ecc884d",
        },
        { source_epoch: "2290", target_epoch: "3008" },
      ],
    },
  ],
};
const EIP_GVR = hexBytes(EIP_EXAMPLE.metadata.genesis_validators_root);
const EIP_PUBKEY = hexBytes(EIP_EXAMPLE.data[0].pubkey);
const EIP_BLOCK_ROOT = hexBytes("0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b");
const EIP_ATT_ROOT = hexBytes("0x587d6a4f59a58fe24f406e0502413e77fe1babddee641fda30034ed37ecc884d");

/** A single-validator interchange over the all-zero genesis validators root. */
const PK = hexBytes(
  "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
);
function single(
  blocks: { slot: string; signing_root?: string }[],
  attestations: { source_epoch: string; target_epoch: string; signing_root?: string }[],
): Interchange {
  return {
    metadata: { interchange_format_version: "5", genesis_validators_root: `0x${"00".repeat(32)}` },
    data: [
      {
        pubkey: `0x${Buffer.from(PK).toString("hex")}`,
        signed_blocks: blocks,
        signed_attestations: attestations,
      },
    ],
  };
}

let dir: string;
let sp: SlashingProtection;
let count = 0;

async function fresh(): Promise<SlashingProtection> {
  return SlashingProtection.open(join(dir, `db-${count++}`));
}

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (err: { code: string }) => err.code,
  );
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-sp-ix-"));
  sp = await fresh();
});

afterEach(async () => {
  await sp.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("EIP-3076 example", () => {
  it("imports the example and enforces its conditions", async () => {
    expect(await sp.importInterchange(JSON.stringify(EIP_EXAMPLE), EIP_GVR)).toEqual({
      validators: 1,
      blocks: 2,
      attestations: 2,
    });
    const block = (slot: number, signingRoot: Uint8Array) =>
      code(sp.checkAndInsertBlockProposal(EIP_PUBKEY, { slot, signingRoot }));
    const att = (sourceEpoch: number, targetEpoch: number, signingRoot: Uint8Array) =>
      code(sp.checkAndInsertAttestation(EIP_PUBKEY, { sourceEpoch, targetEpoch, signingRoot }));
    // Condition 1 and the repeat exception: the recorded root may be signed again, nothing else.
    expect(await block(81952, EIP_BLOCK_ROOT)).toBe("ok");
    expect(await block(81952, root(1))).toBe(Code.DOUBLE_BLOCK_PROPOSAL);
    expect(await block(81951, ZERO_ROOT)).toBe(Code.DOUBLE_BLOCK_PROPOSAL); // no root: any block is slashable
    // Condition 2: nothing at or below the imported slots.
    expect(await block(81950, root(1))).toBe(Code.BLOCK_SLOT_TOO_LOW);
    expect(await block(81953, root(1))).toBe("ok");
    // Conditions 3-5.
    expect(await att(2290, 3007, EIP_ATT_ROOT)).toBe("ok");
    expect(await att(2290, 3007, root(1))).toBe(Code.DOUBLE_VOTE);
    expect(await att(2290, 3008, ZERO_ROOT)).toBe(Code.DOUBLE_VOTE);
    expect(await att(2289, 3010, root(1))).toBe(Code.SOURCE_EPOCH_TOO_LOW);
    expect(await att(2291, 3006, root(1))).toBe(Code.TARGET_EPOCH_TOO_LOW);
    expect(await att(2290, 3009, root(1))).toBe("ok");
  });

  it("exports what it imported (complete round trip)", async () => {
    await sp.importInterchange(EIP_EXAMPLE, EIP_GVR);
    const exported = await sp.exportInterchange(undefined, EIP_GVR);
    expect(exported).toEqual({
      metadata: EIP_EXAMPLE.metadata,
      data: [
        {
          pubkey: EIP_EXAMPLE.data[0].pubkey,
          // Blocks by slot, attestations by target.
          signed_blocks: [EIP_EXAMPLE.data[0].signed_blocks[1], EIP_EXAMPLE.data[0].signed_blocks[0]],
          signed_attestations: EIP_EXAMPLE.data[0].signed_attestations,
        },
      ],
    });
    const other = await fresh();
    try {
      await other.importInterchange(JSON.stringify(exported), EIP_GVR);
      expect(await other.exportInterchange(undefined, EIP_GVR)).toEqual(exported);
    } finally {
      await other.close();
    }
  });

  it("refuses an interchange for another chain and writes nothing", async () => {
    await expect(sp.importInterchange(EIP_EXAMPLE, ZERO_ROOT)).rejects.toMatchObject({
      code: Code.GENESIS_VALIDATORS_ROOT_MISMATCH,
      meta: { expected: `0x${"00".repeat(32)}`, actual: EIP_EXAMPLE.metadata.genesis_validators_root },
    });
    expect(await sp.listPubkeys()).toEqual([]);
    // Once a database holds one chain's history, another chain's interchange is refused even if
    // the caller claims that chain.
    await sp.importInterchange(EIP_EXAMPLE, EIP_GVR);
    await expect(sp.importInterchange(single([{ slot: "1" }], []), ZERO_ROOT)).rejects.toMatchObject({
      code: Code.GENESIS_VALIDATORS_ROOT_MISMATCH,
    });
    await expect(sp.exportInterchange(undefined, ZERO_ROOT)).rejects.toMatchObject({
      code: Code.GENESIS_VALIDATORS_ROOT_MISMATCH,
    });
  });
});

describe("parsing", () => {
  it("reads quoted integers, hex and optional roots", () => {
    const parsed = parseInterchange(JSON.stringify(EIP_EXAMPLE));
    expect(parsed.records[0].signedBlocks.map((b) => [b.slot, b.signingRoot === null])).toEqual([
      [81952, false],
      [81951, true],
    ]);
    expect(parsed.records[0].signedAttestations.map((a) => [a.sourceEpoch, a.targetEpoch])).toEqual([
      [2290, 3007],
      [2290, 3008],
    ]);
  });

  it.each([
    [
      "version 4",
      { ...EIP_EXAMPLE, metadata: { ...EIP_EXAMPLE.metadata, interchange_format_version: "4" } },
      Code.UNSUPPORTED_INTERCHANGE_VERSION,
    ],
    [
      "numeric version",
      { ...EIP_EXAMPLE, metadata: { ...EIP_EXAMPLE.metadata, interchange_format_version: 5 } },
      Code.UNSUPPORTED_INTERCHANGE_VERSION,
    ],
    ["unquoted slot", single([{ slot: 5 as unknown as string }], []), Code.INVALID_INTERCHANGE],
    ["hex slot", single([{ slot: "0x5" }], []), Code.INVALID_INTERCHANGE],
    ["short root", single([{ slot: "5", signing_root: "0x1234" }], []), Code.INVALID_INTERCHANGE],
    [
      "missing target",
      single([], [{ source_epoch: "1" } as unknown as { source_epoch: string; target_epoch: string }]),
      Code.INVALID_INTERCHANGE,
    ],
    [
      "bad pubkey",
      { ...EIP_EXAMPLE, data: [{ ...EIP_EXAMPLE.data[0], pubkey: "0x1234" }] },
      Code.INVALID_INTERCHANGE,
    ],
    [
      "no signed_blocks",
      { ...EIP_EXAMPLE, data: [{ pubkey: EIP_EXAMPLE.data[0].pubkey, signed_attestations: [] }] },
      Code.INVALID_INTERCHANGE,
    ],
    ["not JSON", "{", Code.INVALID_INTERCHANGE],
  ])("refuses %s", (_name, doc, expected) => {
    expect(() => parseInterchange(typeof doc === "string" ? doc : JSON.stringify(doc))).toThrow(
      expect.objectContaining({ code: expected }),
    );
  });

  it("imports nothing when any record is invalid", async () => {
    const doc = single([{ slot: "10" }], []);
    doc.data.push({ pubkey: "0x12", signed_blocks: [], signed_attestations: [] });
    await expect(sp.importInterchange(doc, ZERO_ROOT)).rejects.toMatchObject({
      code: Code.INVALID_INTERCHANGE,
      message: "invalid slashing-protection interchange: data[1].pubkey must be 0x-prefixed hex of 48 bytes",
    });
    expect(await sp.listPubkeys()).toEqual([]);
  });
});

describe("import semantics", () => {
  const block = (slot: number, r: Uint8Array = ZERO_ROOT) =>
    code(sp.checkAndInsertBlockProposal(PK, { slot, signingRoot: r }));
  const att = (s: number, t: number, r: Uint8Array = ZERO_ROOT) =>
    code(sp.checkAndInsertAttestation(PK, { sourceEpoch: s, targetEpoch: t, signingRoot: r }));

  it("keeps the gap between two imported files unsignable", async () => {
    await sp.importInterchange(
      single([{ slot: "40" }], [{ source_epoch: "2", target_epoch: "30" }]),
      ZERO_ROOT,
    );
    await sp.importInterchange(
      single([{ slot: "50" }], [{ source_epoch: "10", target_epoch: "50" }]),
      ZERO_ROOT,
    );
    expect([await block(41), await block(45), await block(49), await block(50), await block(51)]).toEqual([
      Code.BLOCK_SLOT_TOO_LOW,
      Code.BLOCK_SLOT_TOO_LOW,
      Code.BLOCK_SLOT_TOO_LOW,
      Code.DOUBLE_BLOCK_PROPOSAL,
      "ok",
    ]);
    expect([await att(3, 31), await att(9, 49), await att(10, 51)]).toEqual([
      Code.SOURCE_EPOCH_TOO_LOW,
      Code.SOURCE_EPOCH_TOO_LOW,
      "ok",
    ]);
  });

  it("accepts an older file after a newer one without lowering the bounds", async () => {
    await sp.importInterchange(single([{ slot: "40" }], []), ZERO_ROOT);
    await sp.importInterchange(single([{ slot: "20" }, { slot: "50" }], []), ZERO_ROOT);
    expect([await block(20), await block(30), await block(50), await block(51)]).toEqual([
      Code.DOUBLE_BLOCK_PROPOSAL,
      Code.BLOCK_SLOT_TOO_LOW,
      Code.DOUBLE_BLOCK_PROPOSAL,
      "ok",
    ]);
  });

  it("treats a slot or vote imported with two different roots as unknown", async () => {
    await sp.importInterchange(
      single(
        [
          { slot: "10", signing_root: `0x${"11".repeat(32)}` },
          { slot: "10", signing_root: `0x${"22".repeat(32)}` },
        ],
        [
          { source_epoch: "1", target_epoch: "2", signing_root: `0x${"33".repeat(32)}` },
          { source_epoch: "1", target_epoch: "2", signing_root: `0x${"33".repeat(32)}` },
        ],
      ),
      ZERO_ROOT,
    );
    expect(await block(10, hexBytes("11".repeat(32)))).toBe(Code.DOUBLE_BLOCK_PROPOSAL);
    expect(await block(10, hexBytes("22".repeat(32)))).toBe(Code.DOUBLE_BLOCK_PROPOSAL);
    // The same vote twice is one vote, and re-signing it is allowed.
    expect(await att(1, 2, hexBytes("33".repeat(32)))).toBe("ok");
    const exported = await sp.exportInterchange([PK], ZERO_ROOT);
    expect(exported.data[0].signed_blocks).toEqual([{ slot: "10" }]);
    expect(exported.data[0].signed_attestations).toEqual([
      { source_epoch: "1", target_epoch: "2", signing_root: `0x${"33".repeat(32)}` },
    ]);
  });

  it("with source > target in a file, refuses votes below the highest imported source", async () => {
    await sp.importInterchange(
      single(
        [],
        [
          { source_epoch: "5", target_epoch: "2" },
          { source_epoch: "6", target_epoch: "7" },
        ],
      ),
      ZERO_ROOT,
    );
    expect([await att(5, 8), await att(6, 1), await att(6, 8)]).toEqual([
      Code.SOURCE_EPOCH_TOO_LOW,
      Code.SOURCE_AFTER_TARGET,
      "ok",
    ]);
  });

  it("merges local signing history with an import of the same validator", async () => {
    expect(await att(1, 2, root(1))).toBe("ok");
    expect(await block(5, root(1))).toBe("ok");
    await sp.importInterchange(
      single([{ slot: "3" }], [{ source_epoch: "0", target_epoch: "1" }]),
      ZERO_ROOT,
    );
    const exported = await sp.exportInterchange(undefined, ZERO_ROOT);
    expect(exported.data).toEqual([
      {
        pubkey: `0x${Buffer.from(PK).toString("hex")}`,
        signed_blocks: [{ slot: "3" }, { slot: "5", signing_root: `0x${"00".repeat(31)}01` }],
        signed_attestations: [
          { source_epoch: "0", target_epoch: "1" },
          { source_epoch: "1", target_epoch: "2", signing_root: `0x${"00".repeat(31)}01` },
        ],
      },
    ]);
    // The local repeat is still recognised; the imported block (no root) cannot be signed again;
    // below it nothing can be signed, between it and the local block an unsigned slot can.
    expect(await block(5, root(1))).toBe("ok");
    expect(await block(3, root(2))).toBe(Code.DOUBLE_BLOCK_PROPOSAL);
    expect(await block(2, root(2))).toBe(Code.BLOCK_SLOT_TOO_LOW);
    expect(await block(4, root(2))).toBe("ok");
    expect(await att(0, 3, root(2))).toBe(Code.SURROUNDING_VOTE);
    expect(await att(2, 3, root(2))).toBe("ok");
  });
});

describe("export", () => {
  async function signHistory(store: SlashingProtection): Promise<void> {
    for (const [s, t] of [
      [0, 1],
      [1, 2],
      [2, 3],
    ]) {
      await store.checkAndInsertAttestation(PK, { sourceEpoch: s, targetEpoch: t, signingRoot: root(t) });
    }
    await store.checkAndInsertBlockProposal(PK, { slot: 5, signingRoot: root(5) });
    await store.checkAndInsertBlockProposal(PK, { slot: 6, signingRoot: root(6) });
  }

  it("minimal: the highest block and the highest vote, which another database treats as a low watermark", async () => {
    await signHistory(sp);
    const minimal = await sp.exportInterchange(undefined, ZERO_ROOT, { format: "minimal" });
    expect(minimal).toEqual({
      metadata: { interchange_format_version: "5", genesis_validators_root: `0x${"00".repeat(32)}` },
      data: [
        {
          pubkey: `0x${Buffer.from(PK).toString("hex")}`,
          signed_blocks: [{ slot: "6", signing_root: `0x${"00".repeat(31)}06` }],
          signed_attestations: [
            { source_epoch: "2", target_epoch: "3", signing_root: `0x${"00".repeat(31)}03` },
          ],
        },
      ],
    });
    const other = await fresh();
    try {
      await other.importInterchange(JSON.stringify(minimal), ZERO_ROOT);
      const b = (slot: number, r: Uint8Array) =>
        code(other.checkAndInsertBlockProposal(PK, { slot, signingRoot: r }));
      const a = (s: number, t: number, r: Uint8Array) =>
        code(other.checkAndInsertAttestation(PK, { sourceEpoch: s, targetEpoch: t, signingRoot: r }));
      expect([await b(6, root(6)), await b(5, root(5)), await b(7, root(7))]).toEqual([
        "ok",
        Code.BLOCK_SLOT_TOO_LOW,
        "ok",
      ]);
      expect([await a(2, 3, root(3)), await a(1, 4, root(4)), await a(2, 4, root(4))]).toEqual([
        "ok",
        Code.SOURCE_EPOCH_TOO_LOW,
        "ok",
      ]);
    } finally {
      await other.close();
    }
  });

  it("complete: every message, for the selected validators only", async () => {
    await signHistory(sp);
    const other = new Uint8Array(48).fill(7);
    await sp.checkAndInsertBlockProposal(other, { slot: 1, signingRoot: root(1) });
    const complete = await sp.exportInterchange([PK], ZERO_ROOT);
    expect(complete.data.length).toBe(1);
    expect(complete.data[0].signed_blocks.map((b) => b.slot)).toEqual(["5", "6"]);
    expect(complete.data[0].signed_attestations.map((a) => `${a.source_epoch}->${a.target_epoch}`)).toEqual([
      "0->1",
      "1->2",
      "2->3",
    ]);
    const all = await sp.exportInterchange(undefined, ZERO_ROOT);
    expect(all.data.map((d) => d.pubkey.slice(0, 4))).toEqual(["0x07", "0xa9"]);
    const unknown = await sp.exportInterchange([new Uint8Array(48).fill(9)], ZERO_ROOT);
    expect(unknown.data).toEqual([
      { pubkey: `0x${"09".repeat(48)}`, signed_blocks: [], signed_attestations: [] },
    ]);
  });
});
