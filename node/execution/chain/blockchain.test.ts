/**
 * The chain on a real LevelDB: reorgs (to a sibling, to a longer and back to a shorter fork) and
 * rewinds rewrite the canonical index (hashes, transaction lookups, log index) in step with the
 * head and its 'head' events; safe/finalized never pass the head; invalid blocks are refused with
 * the right code and leave nothing stored; `open` repairs a head whose state is missing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Block, createBlockHeader } from "@ethereumjs/block";
import { createFeeMarket1559Tx, type TypedTransaction } from "@ethereumjs/tx";
import { type Address, bytesToHex, createAddressFromString, hexToBytes } from "@ethereumjs/util";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type DevAccount,
  deriveDevAccounts,
  devnetDefinition,
  resolveGenesis,
  TEST_MNEMONIC,
} from "../../../genesis/index.ts";
import type { GethGenesis } from "../../../genesis/types.ts";
import { queryLogs } from "../../api/rpc/logs.ts";
import { silentLogger } from "../../utils/logger.ts";
import { ChainDB } from "../db/chain-db.ts";
import { Keys, MetaKey } from "../db/schema.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";
import type { TxSource } from "../executor/executor.ts";
import { Blockchain, type HeadEvent } from "./blockchain.ts";

const GWEI = 10n ** 9n;
/** Runtime code: LOG1(topic = calldata[0:32]) with empty data. */
const LOGGER = createAddressFromString(`0x${"10".repeat(20)}`);
const LOGGER_CODE = "0x60003560006000a100";

const accounts: DevAccount[] = deriveDevAccounts(TEST_MNEMONIC, 10);
const genesis: GethGenesis = (() => {
  const g = resolveGenesis(
    devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 10, balance: "10000" } }),
    { now: 1_700_000_000 },
  );
  g.alloc[LOGGER.toString()] = { balance: "0x0", code: LOGGER_CODE };
  return g;
})();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-chain-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function openDb(dir: string): Promise<ChainDB> {
  const db = await ChainDB.open(join(dir, "chaindata"));
  cleanups.push(async () => {
    if (db.isOpen) await db.close();
  });
  return db;
}

async function openChain(dir: string): Promise<Blockchain> {
  const db = await openDb(dir);
  if (!Blockchain.isInitialized(db)) await Blockchain.initGenesis(db, genesis, silentLogger());
  return Blockchain.open({ db, logger: silentLogger() });
}

const hex = (x: { hash(): Uint8Array }) => bytesToHex(x.hash());
const topic = (name: string) => bytesToHex(new TextEncoder().encode(name.padEnd(32, "_")));

function signTx(
  chain: Blockchain,
  from: number,
  nonce: number,
  opts: { to?: Address; data?: string; value?: bigint } = {},
): TypedTransaction {
  return createFeeMarket1559Tx(
    {
      chainId: chain.config.chainId,
      nonce: BigInt(nonce),
      maxPriorityFeePerGas: 1n * GWEI,
      maxFeePerGas: 100n * GWEI,
      gasLimit: 100_000n,
      to: opts.to ?? createAddressFromString(`0x${"ee".repeat(20)}`),
      value: opts.value ?? 1n,
      data: opts.data === undefined ? undefined : hexToBytes(opts.data as `0x${string}`),
    },
    { common: chain.config.commonAt(1n, chain.genesis.header.timestamp + 1n) },
  ).sign(hexToBytes(accounts[from].privateKey as `0x${string}`));
}

/** A transaction emitting one log from LOGGER with topic `name`. */
const logTx = (chain: Blockchain, from: number, nonce: number, name: string) =>
  signTx(chain, from, nonce, { to: LOGGER, data: topic(name), value: 0n });

function listSource(txs: TypedTransaction[]): TxSource {
  let i = 0;
  return {
    peek: () => (i < txs.length ? { tx: txs[i], sender: txs[i].getSenderAddress() } : undefined),
    shift: () => {
      i++;
    },
    pop: () => {
      i++;
    },
  };
}

/** Builds (does not store) a child of `parent` holding exactly `txs`. */
async function build(
  chain: Blockchain,
  parent: Block,
  txs: TypedTransaction[],
  recipient = 0,
): Promise<Block> {
  const built = await chain.executor.build(
    parent.header,
    {
      timestamp: parent.header.timestamp + 12n,
      prevRandao: new Uint8Array(32),
      suggestedFeeRecipient: createAddressFromString(accounts[recipient].address),
      withdrawals: [],
      parentBeaconBlockRoot: new Uint8Array(32),
    },
    listSource(txs),
  );
  expect(built.rejected).toEqual([]);
  expect(built.block.transactions.length).toBe(txs.length);
  return built.block;
}

function recordHeads(chain: Blockchain): { removed: string[]; added: string[]; head: string }[] {
  const events: { removed: string[]; added: string[]; head: string }[] = [];
  const off = chain.on("head", (e: HeadEvent) =>
    events.push({ head: hex(e.head), removed: e.change.removed.map(hex), added: e.change.added.map(hex) }),
  );
  cleanups.push(off);
  return events;
}

/** Topics (first one, as names' hex) of the logs eth_getLogs would return for LOGGER over [from, to]. */
async function loggedTopics(chain: Blockchain, from: bigint, to: bigint): Promise<string[]> {
  const logs = await queryLogs(chain, { addresses: [LOGGER.bytes], topics: [] }, from, to, {
    maxRange: 10_000n,
    maxResults: 10_000,
  });
  return logs.map((l) => ((l as { topics: string[] }).topics[0] ?? "").toLowerCase());
}

async function topicBlocks(chain: Blockchain, name: string, to = 100n): Promise<bigint[]> {
  return chain.db.logIndexBlocks("topic", hexToBytes(topic(name) as `0x${string}`), 0n, to, 1000);
}

/** Asserts the canonical index at heights 0..max is exactly `blocks` (and nothing above). */
function expectCanonical(chain: Blockchain, blocks: Block[], above = 3): void {
  blocks.forEach((block, n) => {
    expect(bytesToHex(chain.store.canonicalHash(BigInt(n)) ?? new Uint8Array())).toBe(hex(block));
    expect(hex(chain.store.getBlockByNumber(BigInt(n)) as Block)).toBe(hex(block));
  });
  for (let n = blocks.length; n < blocks.length + above; n++) {
    expect(chain.store.canonicalHash(BigInt(n))).toBeUndefined();
    expect(chain.store.getBlockByNumber(BigInt(n))).toBeUndefined();
  }
  const head = blocks[blocks.length - 1];
  expect(hex(chain.head)).toBe(hex(head));
  expect(bytesToHex(chain.db.getMeta(MetaKey.head) ?? new Uint8Array())).toBe(hex(head));
}

function expectTxAt(chain: Blockchain, tx: TypedTransaction, block: Block, index: number): void {
  const found = chain.store.getTransaction(tx.hash());
  expect(found, `tx ${hex(tx)}`).toBeDefined();
  expect(hex(found!.block)).toBe(hex(block));
  expect(found!.index).toBe(index);
}

function expectNoTx(chain: Blockchain, tx: TypedTransaction): void {
  expect(chain.store.getTransaction(tx.hash()), `tx ${hex(tx)}`).toBeUndefined();
  expect(chain.db.getTxLookup(tx.hash())).toBeUndefined();
}

describe("reorgs", () => {
  it("to a sibling: canonical hash, tx lookups and log index follow the new block", async () => {
    const chain = await openChain(tempDir());
    const g = chain.genesis;
    const c1 = logTx(chain, 0, 0, "common");
    const b1 = await build(chain, g, [c1]);
    await chain.importBlock(b1);
    const events = recordHeads(chain);

    const txA = logTx(chain, 1, 0, "A");
    const transferA = signTx(chain, 2, 0);
    const txB = logTx(chain, 3, 0, "B");
    const a2 = await build(chain, b1, [txA, transferA], 1);
    const b2 = await build(chain, b1, [txB], 2);
    expect(await chain.insertBlock(a2)).toBe(true);
    expect(await chain.insertBlock(b2)).toBe(true);
    expect(await chain.insertBlock(b2)).toBe(false);
    // Inserting does not make a block canonical.
    expectCanonical(chain, [g, b1]);
    expectNoTx(chain, txA);

    await chain.setHead(a2.hash());
    expectCanonical(chain, [g, b1, a2]);
    expectTxAt(chain, txA, a2, 0);
    expectTxAt(chain, transferA, a2, 1);
    expectNoTx(chain, txB);
    expect(await loggedTopics(chain, 0n, 2n)).toEqual([topic("common"), topic("A")]);
    expect(await topicBlocks(chain, "A")).toEqual([2n]);

    const change = await chain.setHead(b2.hash());
    expect(change.removed.map(hex)).toEqual([hex(a2)]);
    expect(change.added.map(hex)).toEqual([hex(b2)]);
    expectCanonical(chain, [g, b1, b2]);
    expectTxAt(chain, c1, b1, 0);
    expectTxAt(chain, txB, b2, 0);
    expectNoTx(chain, txA);
    expectNoTx(chain, transferA);
    expect(await loggedTopics(chain, 0n, 2n)).toEqual([topic("common"), topic("B")]);
    expect(await topicBlocks(chain, "A")).toEqual([]);
    expect(await topicBlocks(chain, "B")).toEqual([2n]);
    expect(await topicBlocks(chain, "common")).toEqual([1n]);
    // The head state is the new block's.
    expect((await chain.headState().getAccount(chain.store.getSenders(a2.hash())![0]))?.nonce).toBe(0n);

    expect(events).toEqual([
      { head: hex(a2), removed: [], added: [hex(a2)] },
      { head: hex(b2), removed: [hex(a2)], added: [hex(b2)] },
    ]);
    // Setting the same head again changes nothing and emits nothing.
    expect(await chain.setHead(b2.hash())).toEqual({ removed: [], added: [] });
    expect(events.length).toBe(2);
  });

  it("to a longer fork and back to the shorter one", async () => {
    const chain = await openChain(tempDir());
    const g = chain.genesis;
    const b1 = await build(chain, g, [logTx(chain, 0, 0, "common")]);
    await chain.importBlock(b1);
    const a2tx = logTx(chain, 1, 0, "A2");
    const a3tx = logTx(chain, 1, 1, "A3");
    const a2 = await build(chain, b1, [a2tx], 1);
    const a3 = await build(chain, a2, [a3tx], 1);
    const b2tx = logTx(chain, 2, 0, "B2");
    const b3tx = logTx(chain, 2, 1, "B3");
    const b4tx = logTx(chain, 2, 2, "B4");
    const b2 = await build(chain, b1, [b2tx], 2);
    const b3 = await build(chain, b2, [b3tx], 2);
    const b4 = await build(chain, b3, [b4tx], 2);
    for (const block of [a2, a3, b2, b3, b4]) await chain.insertBlock(block);
    const events = recordHeads(chain);

    await chain.setHead(a3.hash());
    expectCanonical(chain, [g, b1, a2, a3]);
    expect(await loggedTopics(chain, 0n, 4n)).toEqual([topic("common"), topic("A2"), topic("A3")]);

    await chain.setHead(b4.hash());
    expectCanonical(chain, [g, b1, b2, b3, b4]);
    for (const tx of [a2tx, a3tx]) expectNoTx(chain, tx);
    expectTxAt(chain, b2tx, b2, 0);
    expectTxAt(chain, b3tx, b3, 0);
    expectTxAt(chain, b4tx, b4, 0);
    expect(await loggedTopics(chain, 0n, 4n)).toEqual([
      topic("common"),
      topic("B2"),
      topic("B3"),
      topic("B4"),
    ]);
    expect(await topicBlocks(chain, "A2")).toEqual([]);
    expect(await topicBlocks(chain, "A3")).toEqual([]);

    // Back to the shorter fork: height 4 leaves the canonical chain entirely.
    await chain.setHead(a3.hash());
    expectCanonical(chain, [g, b1, a2, a3]);
    for (const tx of [b2tx, b3tx, b4tx]) expectNoTx(chain, tx);
    expectTxAt(chain, a2tx, a2, 0);
    expectTxAt(chain, a3tx, a3, 0);
    expect(await loggedTopics(chain, 0n, 4n)).toEqual([topic("common"), topic("A2"), topic("A3")]);
    expect(await topicBlocks(chain, "B4")).toEqual([]);

    expect(events).toEqual([
      { head: hex(a3), removed: [], added: [hex(a2), hex(a3)] },
      { head: hex(b4), removed: [hex(a3), hex(a2)], added: [hex(b2), hex(b3), hex(b4)] },
      { head: hex(a3), removed: [hex(b4), hex(b3), hex(b2)], added: [hex(a2), hex(a3)] },
    ]);
  });

  it("rewinding the head to an ancestor deletes the canonical entries above it, durably", async () => {
    const dir = tempDir();
    const chain = await openChain(dir);
    const g = chain.genesis;
    const txs = [1, 2, 3].map((n) => logTx(chain, 0, n - 1, `R${n}`));
    const b1 = await build(chain, g, [txs[0]]);
    await chain.importBlock(b1);
    const b2 = await build(chain, b1, [txs[1]]);
    await chain.importBlock(b2);
    const b3 = await build(chain, b2, [txs[2]]);
    await chain.importBlock(b3);
    const events = recordHeads(chain);

    const change = await chain.setHead(b1.hash());
    expect(change.removed.map(hex)).toEqual([hex(b3), hex(b2)]);
    expect(change.added).toEqual([]);
    expect(events).toEqual([{ head: hex(b1), removed: [hex(b3), hex(b2)], added: [] }]);
    expectCanonical(chain, [g, b1]);
    expectTxAt(chain, txs[0], b1, 0);
    expectNoTx(chain, txs[1]);
    expectNoTx(chain, txs[2]);
    expect(await loggedTopics(chain, 0n, 3n)).toEqual([topic("R1")]);
    expect(await topicBlocks(chain, "R2")).toEqual([]);
    expect((await chain.headState().getAccount(txs[0].getSenderAddress()))?.nonce).toBe(1n);
    // The blocks stay stored (they can become canonical again).
    expect(chain.store.hasBlock(b3.hash())).toBe(true);

    await chain.db.close();
    const reopened = await openChain(dir);
    expectCanonical(reopened, [g, b1]);
    expectNoTx(reopened, txs[2]);
    await reopened.setHead(b3.hash());
    expectCanonical(reopened, [g, b1, b2, b3]);
    expectTxAt(reopened, txs[2], b3, 0);
    expect(await loggedTopics(reopened, 0n, 3n)).toEqual([topic("R1"), topic("R2"), topic("R3")]);
  });

  it("concurrent head changes apply one after the other and leave a consistent index", async () => {
    const chain = await openChain(tempDir());
    const g = chain.genesis;
    const b1 = await build(chain, g, [logTx(chain, 0, 0, "common")]);
    await chain.importBlock(b1);
    const a2 = await build(chain, b1, [logTx(chain, 1, 0, "A2")], 1);
    const a3 = await build(chain, a2, [logTx(chain, 1, 1, "A3")], 1);
    const b2tx = logTx(chain, 2, 0, "B2");
    const b2 = await build(chain, b1, [b2tx], 2);
    for (const block of [a2, a3, b2]) await chain.insertBlock(block);
    const events = recordHeads(chain);
    // Issued together (e.g. two forkchoice updates): the last one wins, as if sequential.
    await Promise.all([chain.setHead(a3.hash()), chain.setHead(b2.hash())]);
    expectCanonical(chain, [g, b1, b2]);
    expect(await loggedTopics(chain, 0n, 3n)).toEqual([topic("common"), topic("B2")]);
    expect(await topicBlocks(chain, "A3")).toEqual([]);
    expectTxAt(chain, b2tx, b2, 0);
    expect(events).toEqual([
      { head: hex(a3), removed: [], added: [hex(a2), hex(a3)] },
      { head: hex(b2), removed: [hex(a3), hex(a2)], added: [hex(b2)] },
    ]);
  });

  it("keeps safe and finalized at or below the head", async () => {
    const dir = tempDir();
    const chain = await openChain(dir);
    const g = chain.genesis;
    const b1 = await build(chain, g, [signTx(chain, 0, 0)]);
    await chain.importBlock(b1);
    const b2 = await build(chain, b1, [signTx(chain, 0, 1)]);
    await chain.importBlock(b2);
    const b3 = await build(chain, b2, [signTx(chain, 0, 2)]);
    await chain.importBlock(b3);
    const sibling = await build(chain, b1, [signTx(chain, 1, 0)], 3);
    await chain.insertBlock(sibling);

    await chain.setForkchoiceMarkers(b3.hash(), b2.hash());
    expect(chain.safe.number).toBe(3n);
    expect(chain.finalized.number).toBe(2n);
    // Markers must be canonical ancestors of the head.
    for (const hash of [sibling.hash(), new Uint8Array(32).fill(7)]) {
      await expect(chain.setForkchoiceMarkers(hash, undefined)).rejects.toMatchObject({
        code: ChainErrorCode.UNKNOWN_BLOCK,
      });
    }
    expect(chain.safe.number).toBe(3n);

    await chain.setHead(b1.hash());
    expect(hex(chain.safe)).toBe(hex(b1));
    expect(hex(chain.finalized)).toBe(hex(b1));
    await expect(chain.setForkchoiceMarkers(b2.hash(), undefined)).rejects.toMatchObject({
      code: ChainErrorCode.UNKNOWN_BLOCK,
    });
    await chain.db.close();
    const reopened = await openChain(dir);
    expect(hex(reopened.head)).toBe(hex(b1));
    expect(hex(reopened.safe)).toBe(hex(b1));
    expect(hex(reopened.finalized)).toBe(hex(b1));
  });
});

describe("invalid blocks", () => {
  /** `block` with some header fields replaced (and a matching hash). */
  function tamper(block: Block, fields: Record<string, unknown>, txs = block.transactions): Block {
    const header = createBlockHeader({ ...block.header.toJSON(), ...fields }, { common: block.common });
    return new Block(header, txs, [], block.withdrawals, { common: block.common });
  }

  it("are refused with the right code and leave nothing stored", async () => {
    const chain = await openChain(tempDir());
    const b1 = await build(chain, chain.genesis, [signTx(chain, 0, 0)]);
    await chain.importBlock(b1);
    const tx = logTx(chain, 0, 1, "valid");
    const valid = await build(chain, b1, [tx]);
    const h = valid.header;
    const cases: [string, Block, ChainErrorCode, RegExp][] = [
      [
        "bad state root",
        tamper(valid, { stateRoot: `0x${"11".repeat(32)}` }),
        ChainErrorCode.INVALID_EXECUTION,
        /state ?root/i,
      ],
      [
        "bad receipts root",
        tamper(valid, { receiptTrie: `0x${"22".repeat(32)}` }),
        ChainErrorCode.INVALID_EXECUTION,
        /receipt/i,
      ],
      ["bad gas used", tamper(valid, { gasUsed: h.gasUsed + 1n }), ChainErrorCode.INVALID_EXECUTION, /gas/i],
      [
        "bad base fee",
        tamper(valid, { baseFeePerGas: (h.baseFeePerGas ?? 0n) + 1n }),
        ChainErrorCode.INVALID_HEADER,
        /base fee/,
      ],
      [
        "timestamp not increasing",
        tamper(valid, { timestamp: b1.header.timestamp }),
        ChainErrorCode.INVALID_HEADER,
        /timestamp/,
      ],
      [
        "wrong number for its parent",
        tamper(valid, { number: h.number + 1n }),
        ChainErrorCode.INVALID_HEADER,
        /number/,
      ],
      [
        "unknown parent",
        tamper(valid, { parentHash: `0x${"33".repeat(32)}` }),
        ChainErrorCode.UNKNOWN_PARENT,
        /unknown parent/,
      ],
      ["transactions not matching the header", tamper(valid, {}, []), ChainErrorCode.INVALID_BODY, /trie/i],
    ];
    const headBefore = hex(chain.head);
    for (const [what, block, code, message] of cases) {
      // (A body that does not match its header keeps the valid block's hash.)
      if (block.transactions.length > 0) expect(hex(block), what).not.toBe(hex(valid));
      let error: unknown;
      try {
        await chain.insertBlock(block);
      } catch (err) {
        error = err;
      }
      expect(error, what).toBeInstanceOf(ChainError);
      expect((error as ChainError).code, `${what}: ${(error as Error).message}`).toBe(code);
      expect((error as Error).message, what).toMatch(message);
      // Nothing stored: no number, header, body or receipts under its hash.
      expect(chain.store.hasBlock(block.hash()), what).toBe(false);
      expect(chain.db.getNumber(block.hash()), what).toBeUndefined();
      expect(chain.store.getHeader(block.hash()), what).toBeUndefined();
      expect(chain.db.getHeaderRlp(block.header.number, block.hash()), what).toBeUndefined();
      expect(chain.db.getReceiptsRlp(block.header.number, block.hash()), what).toBeUndefined();
      await expect(chain.setHead(block.hash()), what).rejects.toMatchObject({
        code: ChainErrorCode.UNKNOWN_BLOCK,
      });
      expect(hex(chain.head), what).toBe(headBefore);
    }
    expectNoTx(chain, tx);
    // The failed executions left the state usable: the valid block still imports.
    expect(await chain.insertBlock(valid)).toBe(true);
    await chain.setHead(valid.hash());
    expectTxAt(chain, tx, valid, 0);
    expect((await chain.headState().getAccount(tx.getSenderAddress()))?.nonce).toBe(2n);
  });

  it("a block we built is imported without re-execution, but not a copy of it with another body", async () => {
    const chain = await openChain(tempDir());
    const tx = logTx(chain, 0, 0, "built");
    const built = await chain.executor.build(
      chain.genesis.header,
      {
        timestamp: chain.genesis.header.timestamp + 12n,
        prevRandao: new Uint8Array(32),
        suggestedFeeRecipient: createAddressFromString(accounts[1].address),
        withdrawals: [],
        parentBeaconBlockRoot: new Uint8Array(32),
      },
      listSource([tx]),
    );
    chain.rememberBuilt(built);
    const execute = vi.spyOn(chain.executor, "execute");
    // Same header (so the same hash), transactions dropped: must be executed, and refused.
    const emptied = tamper(built.block, {}, []);
    expect(hex(emptied)).toBe(hex(built.block));
    await expect(chain.insertBlock(emptied)).rejects.toMatchObject({ code: ChainErrorCode.INVALID_BODY });
    expect(chain.store.hasBlock(built.block.hash())).toBe(false);
    expect(execute).toHaveBeenCalledTimes(1);
    // The block itself still imports without executing (its build result is kept).
    expect(await chain.insertBlock(built.block)).toBe(true);
    expect(execute).toHaveBeenCalledTimes(1);
    await chain.setHead(built.block.hash());
    expectTxAt(chain, tx, built.block, 0);
    expect(chain.store.getReceipts(built.block.hash())?.length).toBe(1);
  });
});

describe("repair on open", () => {
  it("rewinds a head whose state is missing to the newest block with state, and keeps going", async () => {
    const dir = tempDir();
    const chain = await openChain(dir);
    const g = chain.genesis;
    const txs = [0, 1, 2].map((n) => logTx(chain, 0, n, `S${n}`));
    const blocks: Block[] = [g];
    for (const tx of txs) {
      const block = await build(chain, blocks[blocks.length - 1], [tx]);
      await chain.importBlock(block);
      blocks.push(block);
    }
    const [, b1, b2, b3] = blocks;
    await chain.setForkchoiceMarkers(b3.hash(), b3.hash());
    await chain.db.close();

    // Lose the head's state: its state trie root node.
    const db = await openDb(dir);
    expect(db.get(Keys.trieNode(b3.header.stateRoot))).toBeDefined();
    await db.del(Keys.trieNode(b3.header.stateRoot));
    const repaired = await Blockchain.open({ db, logger: silentLogger() });
    expectCanonical(repaired, [g, b1, b2]);
    expect(repaired.executor.hasState(repaired.head.header.stateRoot)).toBe(true);
    expect(repaired.safe.number).toBeLessThanOrEqual(2n);
    expect(repaired.finalized.number).toBeLessThanOrEqual(2n);
    expectNoTx(repaired, txs[2]);
    expectTxAt(repaired, txs[1], b2, 0);
    expect(await loggedTopics(repaired, 0n, 3n)).toEqual([topic("S0"), topic("S1")]);
    expect(await topicBlocks(repaired, "S2")).toEqual([]);
    expect((await repaired.headState().getAccount(txs[0].getSenderAddress()))?.nonce).toBe(2n);
    await db.close();

    // The repair is durable, and the chain grows again from the repaired head.
    const again = await openChain(dir);
    expectCanonical(again, [g, b1, b2]);
    expect(hex(again.safe)).toBe(hex(b2));
    expect(hex(again.finalized)).toBe(hex(b2));
    const next = await build(again, b2, [logTx(again, 1, 0, "after")], 4);
    await again.importBlock(next);
    expectCanonical(again, [g, b1, b2, next]);
    expect(await loggedTopics(again, 0n, 3n)).toEqual([topic("S0"), topic("S1"), topic("after")]);
    expectNoTx(again, txs[2]);
  });
});
