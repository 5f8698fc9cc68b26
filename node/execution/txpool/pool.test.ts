/**
 * Transaction pool against a real LevelDB chain (devnet genesis, temp datadir, no HTTP):
 * pending/queued sets and promotion, replacement price bump, capacity limits and eviction,
 * the builder's transaction source ordering, following the head (inclusion, balance drops,
 * reorg re-injection) and the journal across restarts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx, type TypedTransaction } from "@ethereumjs/tx";
import { type Address, bytesToHex, createAddressFromString, hexToBytes } from "@ethereumjs/util";
import { afterEach, describe, expect, it } from "vitest";
import {
  type DevAccount,
  deriveDevAccounts,
  devnetDefinition,
  resolveGenesis,
  TEST_MNEMONIC,
} from "../../../genesis/index.ts";
import type { GethGenesis } from "../../../genesis/types.ts";
import { silentLogger } from "../../utils/logger.ts";
import { Keys } from "../db/schema.ts";
import type { Hex } from "../engine/types.ts";
import type { TxSource } from "../executor/executor.ts";
import { ExecutionLayer } from "../index.ts";
import { TxPoolErrorCode } from "./errors.ts";
import type { TxPoolOptions } from "./pool.ts";

const GWEI = 10n ** 9n;
const OGPU = 10n ** 18n;
const ZERO_HASH = `0x${"00".repeat(32)}` as Hex;
const SINK = createAddressFromString(`0x${"ee".repeat(20)}`);

const accounts: DevAccount[] = deriveDevAccounts(TEST_MNEMONIC, 10);
const genesis: GethGenesis = resolveGenesis(
  devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 10, balance: "10000" } }),
  { now: 1_700_000_000 },
);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-pool-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens an execution layer on `datadir` (initialized with the devnet genesis when empty). */
async function openEl(datadir: string, txpool: TxPoolOptions = {}): Promise<ExecutionLayer> {
  const el = await ExecutionLayer.open({ datadir, genesis, txpool }, { logger: silentLogger() });
  let closed = false;
  const close = el.close.bind(el);
  el.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  cleanups.push(() => el.close());
  return el;
}

async function freshEl(txpool: TxPoolOptions = {}): Promise<ExecutionLayer> {
  return openEl(tempDir(), txpool);
}

interface TxParams {
  nonce: number | bigint;
  /** Priority fee (tip) in wei. */
  tip?: bigint;
  /** Fee cap in wei. */
  feeCap?: bigint;
  value?: bigint;
  to?: Address;
  data?: Uint8Array;
}

/** A signed EIP-1559 transfer from dev account `from`. */
function signTx(el: ExecutionLayer, from: number, p: TxParams): TypedTransaction {
  const head = el.chain.head.header;
  const common = el.chain.config.commonAt(head.number + 1n, head.timestamp + 1n);
  return createFeeMarket1559Tx(
    {
      chainId: el.chain.config.chainId,
      nonce: BigInt(p.nonce),
      maxPriorityFeePerGas: p.tip ?? 1n * GWEI,
      maxFeePerGas: p.feeCap ?? 10n * GWEI,
      gasLimit: 21_000n,
      to: p.to ?? SINK,
      value: p.value ?? 1n,
      data: p.data,
    },
    { common },
  ).sign(hexToBytes(accounts[from].privateKey as Hex));
}

const hex = (tx: TypedTransaction) => bytesToHex(tx.hash());
const addr = (i: number) => createAddressFromString(accounts[i].address);

/** Waits until the pool has processed every head event emitted so far. */
async function settled(el: ExecutionLayer): Promise<void> {
  await el.pool.drop([]);
}

/** A fixed list of transactions offered in order (for building blocks with chosen contents). */
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

/** Builds (not imports) a block on the head holding exactly `txs`. */
async function buildOnHead(el: ExecutionLayer, txs: TypedTransaction[], feeRecipient = 0) {
  const parent = el.chain.head.header;
  const built = await el.chain.executor.build(
    parent,
    {
      timestamp: parent.timestamp + 12n,
      prevRandao: new Uint8Array(32),
      suggestedFeeRecipient: addr(feeRecipient),
      withdrawals: [],
      parentBeaconBlockRoot: new Uint8Array(32),
    },
    listSource(txs),
  );
  expect(built.rejected).toEqual([]);
  expect(built.block.transactions.length).toBe(txs.length);
  return built.block;
}

/** One block through the Engine API from the pool's pending transactions; waits for the pool reset. */
async function produceBlock(el: ExecutionLayer): Promise<void> {
  const head = el.chain.head;
  const headHash = bytesToHex(head.hash()) as Hex;
  const fcu = await el.engine.forkchoiceUpdatedV3(
    { headBlockHash: headHash, safeBlockHash: ZERO_HASH, finalizedBlockHash: ZERO_HASH },
    {
      timestamp: `0x${(head.header.timestamp + 12n).toString(16)}`,
      prevRandao: ZERO_HASH,
      suggestedFeeRecipient: accounts[9].address as Hex,
      withdrawals: [],
      parentBeaconBlockRoot: ZERO_HASH,
    },
  );
  expect(fcu.payloadId).not.toBeNull();
  const { executionPayload, executionRequests } = await el.engine.getPayloadV4(fcu.payloadId as Hex);
  const status = await el.engine.newPayloadV4(executionPayload, [], ZERO_HASH, executionRequests);
  expect(status.status).toBe("VALID");
  await el.engine.forkchoiceUpdatedV3(
    { headBlockHash: executionPayload.blockHash, safeBlockHash: ZERO_HASH, finalizedBlockHash: ZERO_HASH },
    null,
  );
  expect(bytesToHex(el.chain.head.hash())).toBe(executionPayload.blockHash);
  await settled(el);
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
  throw new Error("expected the pool to refuse the transaction");
}

function nonces(list: { nonce: bigint }[] | undefined): number[] {
  return (list ?? []).map((p) => Number(p.nonce));
}

function contentOf(el: ExecutionLayer, i: number) {
  const { pending, queued } = el.pool.content(addr(i));
  const key = addr(i).toString();
  return { pending: nonces(pending.get(key)), queued: nonces(queued.get(key)) };
}

async function journalCount(el: ExecutionLayer): Promise<number> {
  let n = 0;
  for await (const _ of el.db.entries(Keys.journalPrefix())) n++;
  return n;
}

describe("pending and queued", () => {
  it("queues nonce-gapped transactions and promotes them when the gap fills", async () => {
    const el = await freshEl();
    await el.pool.add(signTx(el, 0, { nonce: 2 }));
    await el.pool.add(signTx(el, 0, { nonce: 3 }));
    expect(contentOf(el, 0)).toEqual({ pending: [], queued: [2, 3] });
    expect(el.pool.size).toEqual({ pending: 0, queued: 2 });
    expect(await el.pool.pendingNonce(addr(0))).toBe(0n);

    const promoted: number[] = [];
    el.pool.on("pending", (p) => promoted.push(Number(p.nonce)));
    await el.pool.add(signTx(el, 0, { nonce: 0 }));
    expect(contentOf(el, 0)).toEqual({ pending: [0], queued: [2, 3] });
    await el.pool.add(signTx(el, 0, { nonce: 1 }));
    expect(contentOf(el, 0)).toEqual({ pending: [0, 1, 2, 3], queued: [] });
    expect(el.pool.size).toEqual({ pending: 4, queued: 0 });
    expect(promoted).toEqual([0, 1, 2, 3]);
    expect(await el.pool.pendingNonce(addr(0))).toBe(4n);
  });

  it("refuses a nonce below the state nonce and a duplicate", async () => {
    const el = await freshEl();
    const tx = signTx(el, 0, { nonce: 0 });
    await el.pool.add(tx);
    expect((await rejection(el.pool.add(tx))).code).toBe(TxPoolErrorCode.ALREADY_KNOWN);
    await produceBlock(el);
    expect(el.pool.size).toEqual({ pending: 0, queued: 0 });
    const low = await rejection(el.pool.add(signTx(el, 0, { nonce: 0, tip: 2n * GWEI })));
    expect(low.code).toBe(TxPoolErrorCode.NONCE_TOO_LOW);
    expect(low.message).toMatch(/^nonce too low/);
  });
});

describe("replacement", () => {
  const base = { tip: 10n * GWEI, feeCap: 100n * GWEI };

  it("needs +10% on both fee cap and tip, for pending and queued transactions", async () => {
    const el = await freshEl();
    for (const nonce of [0, 5]) {
      const original = signTx(el, 0, { nonce, ...base });
      await el.pool.add(original);
      const where = nonce === 0 ? "pending" : "queued";
      expect(contentOf(el, 0)[where]).toContain(nonce);
      // +9% on the tip only, +9% on the fee cap only, no bump at all: refused.
      for (const [tip, feeCap] of [
        [(base.tip * 109n) / 100n, (base.feeCap * 110n) / 100n],
        [(base.tip * 110n) / 100n, (base.feeCap * 109n) / 100n],
        [base.tip, base.feeCap],
      ]) {
        const r = await rejection(el.pool.add(signTx(el, 0, { nonce, tip, feeCap, value: 2n })));
        expect(r.code).toBe(TxPoolErrorCode.REPLACEMENT_UNDERPRICED);
        expect(r.message).toBe("replacement transaction underpriced");
        expect(el.pool.get(original.hash())).toBeDefined();
      }
      // Exactly +10% on both: replaces in place.
      const replacement = signTx(el, 0, {
        nonce,
        tip: (base.tip * 110n) / 100n,
        feeCap: (base.feeCap * 110n) / 100n,
        value: 3n,
      });
      await el.pool.add(replacement);
      expect(el.pool.get(original.hash())).toBeUndefined();
      expect(el.pool.get(replacement.hash())?.nonce).toBe(BigInt(nonce));
      expect(contentOf(el, 0)[where]).toContain(nonce);
    }
    expect(contentOf(el, 0)).toEqual({ pending: [0], queued: [5] });
    expect(el.pool.size).toEqual({ pending: 1, queued: 1 });
  });

  it("replacing a pending transaction keeps the sender's later ones pending", async () => {
    const el = await freshEl();
    await el.pool.add(signTx(el, 0, { nonce: 0, ...base }));
    await el.pool.add(signTx(el, 0, { nonce: 1, ...base }));
    await el.pool.add(signTx(el, 0, { nonce: 0, tip: 20n * GWEI, feeCap: 200n * GWEI }));
    expect(contentOf(el, 0)).toEqual({ pending: [0, 1], queued: [] });
    expect(el.pool.size).toEqual({ pending: 2, queued: 0 });
  });

  it("a tiny fee cannot be 'bumped' by rounding: the replacement must pay strictly more", async () => {
    const el = await freshEl();
    // Local transactions may carry a tip below the price floor; 10% of 5 wei rounds to 0.
    await el.pool.add(signTx(el, 0, { nonce: 0, tip: 5n, feeCap: 100n * GWEI }), { local: true });
    const same = await rejection(
      el.pool.add(signTx(el, 0, { nonce: 0, tip: 5n, feeCap: 200n * GWEI, value: 7n }), { local: true }),
    );
    expect(same.code).toBe(TxPoolErrorCode.REPLACEMENT_UNDERPRICED);
    await el.pool.add(signTx(el, 0, { nonce: 0, tip: 6n, feeCap: 200n * GWEI, value: 7n }), { local: true });
  });
});

describe("capacity", () => {
  it("limits the queued transactions of one sender", async () => {
    const el = await freshEl({ accountQueue: 2 });
    await el.pool.add(signTx(el, 0, { nonce: 2 }));
    await el.pool.add(signTx(el, 0, { nonce: 3 }));
    const r = await rejection(el.pool.add(signTx(el, 0, { nonce: 4 })));
    expect(r.code).toBe(TxPoolErrorCode.ACCOUNT_LIMIT);
    // Other senders and executable transactions are not affected.
    await el.pool.add(signTx(el, 1, { nonce: 2 }));
    await el.pool.add(signTx(el, 0, { nonce: 0 }));
    await el.pool.add(signTx(el, 0, { nonce: 1 }));
    expect(contentOf(el, 0)).toEqual({ pending: [0, 1, 2, 3], queued: [] });
    // The queue emptied by the promotion takes new gapped transactions again.
    await el.pool.add(signTx(el, 0, { nonce: 6 }));
    await el.pool.add(signTx(el, 0, { nonce: 7 }));
    expect((await rejection(el.pool.add(signTx(el, 0, { nonce: 8 })))).code).toBe(
      TxPoolErrorCode.ACCOUNT_LIMIT,
    );
  });

  it("evicts the cheapest remote transaction for a better one, and refuses a cheaper newcomer", async () => {
    const el = await freshEl({ globalSlots: 3 });
    const a = signTx(el, 0, { nonce: 0, tip: 2n * GWEI });
    const b = signTx(el, 1, { nonce: 0, tip: 3n * GWEI });
    const c = signTx(el, 2, { nonce: 0, tip: 4n * GWEI });
    for (const tx of [a, b, c]) await el.pool.add(tx);
    const d = signTx(el, 3, { nonce: 0, tip: 5n * GWEI });
    await el.pool.add(d);
    expect(el.pool.get(a.hash())).toBeUndefined();
    expect(el.pool.get(d.hash())).toBeDefined();
    expect(el.pool.size).toEqual({ pending: 3, queued: 0 });
    // The cheapest left pays 3 gwei: an equal or lower tip does not get in.
    for (const tip of [3n * GWEI, 1n * GWEI]) {
      const r = await rejection(el.pool.add(signTx(el, 4, { nonce: 0, tip })));
      expect(r.code).toBe(TxPoolErrorCode.POOL_FULL);
      expect(r.message).toBe("txpool is full");
    }
    for (const tx of [b, c, d]) expect(el.pool.get(tx.hash())).toBeDefined();
  });

  it("never evicts local transactions", async () => {
    const el = await freshEl({ globalSlots: 3 });
    const locals = [0, 1, 2].map((i) => signTx(el, i, { nonce: 0, tip: 1n }));
    for (const tx of locals) await el.pool.add(tx, { local: true });
    const r = await rejection(el.pool.add(signTx(el, 3, { nonce: 0, tip: 50n * GWEI, feeCap: 100n * GWEI })));
    expect(r.code).toBe(TxPoolErrorCode.POOL_FULL);
    for (const tx of locals) expect(el.pool.get(tx.hash())).toBeDefined();
    // With one remote among them, only the remote one goes.
    const el2 = await freshEl({ globalSlots: 3 });
    const l0 = signTx(el2, 0, { nonce: 0, tip: 1n });
    const l1 = signTx(el2, 1, { nonce: 0, tip: 1n });
    const remote = signTx(el2, 2, { nonce: 0, tip: 2n * GWEI });
    await el2.pool.add(l0, { local: true });
    await el2.pool.add(l1, { local: true });
    await el2.pool.add(remote);
    await el2.pool.add(signTx(el2, 3, { nonce: 0, tip: 3n * GWEI }));
    expect(el2.pool.get(remote.hash())).toBeUndefined();
    expect(el2.pool.get(l0.hash())).toBeDefined();
    expect(el2.pool.get(l1.hash())).toBeDefined();
  });
});

describe("transaction source for the block builder", () => {
  it("orders by effective tip then arrival, keeps each sender's nonce order, skips unpayable senders", async () => {
    const el = await freshEl();
    const baseFee = el.chain.head.header.calcNextBaseFee();
    const feeCap = baseFee + 1_000n * GWEI;
    const txs = {
      b: signTx(el, 1, { nonce: 0, tip: 10n * GWEI, feeCap }),
      a0: signTx(el, 0, { nonce: 0, tip: 5n * GWEI, feeCap }),
      a1: signTx(el, 0, { nonce: 1, tip: 100n * GWEI, feeCap }),
      c: signTx(el, 2, { nonce: 0, tip: 3n * GWEI, feeCap }),
      // Same tip as b, arrived later.
      e: signTx(el, 4, { nonce: 0, tip: 10n * GWEI, feeCap }),
      // A tip above c's, capped by a low fee cap: effective tip 2.9 gwei at this base fee (below c's 3).
      f: signTx(el, 5, { nonce: 0, tip: 3_700_000_000n, feeCap: baseFee + 2_900_000_000n }),
      // A sender whose second transaction has a low fee cap.
      g0: signTx(el, 6, { nonce: 0, tip: 1n * GWEI, feeCap }),
      g1: signTx(el, 6, { nonce: 1, tip: 1n * GWEI, feeCap: baseFee + 2n * GWEI }),
    };
    // a1 arrives first (queued until a0 comes): it must still come after a0.
    for (const tx of [txs.a1, txs.b, txs.a0, txs.c, txs.e, txs.f, txs.g0, txs.g1]) await el.pool.add(tx);
    const drain = (source: TxSource) => {
      const out: string[] = [];
      for (let next = source.peek(); next !== undefined; next = source.peek()) {
        out.push(hex(next.tx));
        source.shift();
      }
      return out;
    };
    const name = Object.fromEntries(Object.entries(txs).map(([k, tx]) => [hex(tx), k]));
    expect(drain(el.pool.txSource(baseFee)).map((h) => name[h])).toEqual([
      "b",
      "e",
      "a0",
      "a1",
      "c",
      "f",
      "g0",
      "g1",
    ]);
    // At a base fee f and g1 cannot pay, f's sender is skipped and g's stops after g0.
    expect(drain(el.pool.txSource(baseFee + 3n * GWEI)).map((h) => name[h])).toEqual([
      "b",
      "e",
      "a0",
      "a1",
      "c",
      "g0",
    ]);
    // pop() skips the rest of a sender's transactions.
    const source = el.pool.txSource(baseFee);
    const seen: string[] = [];
    for (let next = source.peek(); next !== undefined; next = source.peek()) {
      seen.push(name[hex(next.tx)]);
      if (name[hex(next.tx)] === "a0") source.pop();
      else source.shift();
    }
    expect(seen).toEqual(["b", "e", "a0", "c", "f", "g0", "g1"]);
  });

  it("a block built from the pool includes the transactions in source order", async () => {
    const el = await freshEl();
    await el.pool.add(signTx(el, 0, { nonce: 1, tip: 9n * GWEI }));
    await el.pool.add(signTx(el, 1, { nonce: 0, tip: 2n * GWEI }));
    await el.pool.add(signTx(el, 0, { nonce: 0, tip: 1n * GWEI }));
    await produceBlock(el);
    const senders = el.chain.head.transactions.map((tx) => [tx.getSenderAddress().toString(), tx.nonce]);
    expect(senders).toEqual([
      [addr(1).toString(), 0n],
      [addr(0).toString(), 0n],
      [addr(0).toString(), 1n],
    ]);
  });
});

describe("following the chain head", () => {
  it("drops included transactions and realigns nonces", async () => {
    const el = await freshEl();
    for (const nonce of [0, 1, 3]) await el.pool.add(signTx(el, 0, { nonce }));
    await el.pool.add(signTx(el, 1, { nonce: 0 }));
    expect(el.pool.size).toEqual({ pending: 3, queued: 1 });
    await produceBlock(el);
    expect(el.chain.head.transactions.length).toBe(3);
    expect(el.pool.size).toEqual({ pending: 0, queued: 1 });
    expect(contentOf(el, 0)).toEqual({ pending: [], queued: [3] });
    expect(await el.pool.pendingNonce(addr(0))).toBe(2n);
    expect(await el.pool.pendingNonce(addr(1))).toBe(1n);
    await el.pool.add(signTx(el, 0, { nonce: 2 }));
    expect(contentOf(el, 0)).toEqual({ pending: [2, 3], queued: [] });
    expect(await el.pool.pendingNonce(addr(0))).toBe(4n);
  });

  it("drops a transaction made unpayable by a balance drop", async () => {
    const el = await freshEl();
    // Sender 0's and sender 1's nonce-1 transactions wait for nonce 0.
    const poor = signTx(el, 0, { nonce: 1, value: 1n * OGPU });
    const control = signTx(el, 1, { nonce: 1, value: 1n * OGPU });
    await el.pool.add(poor);
    await el.pool.add(control);
    // A block (not from the pool) where sender 0 sends away almost all of its balance.
    const balance = (await el.chain.headState().getAccount(addr(0)))?.balance ?? 0n;
    const drain = signTx(el, 0, { nonce: 0, value: balance - OGPU / 2n });
    const unrelated = signTx(el, 1, { nonce: 0 });
    const block = await buildOnHead(el, [drain, unrelated]);
    await el.chain.importBlock(block);
    await settled(el);
    expect(el.pool.get(poor.hash())).toBeUndefined();
    expect(el.pool.get(control.hash())).toBeDefined();
    expect(contentOf(el, 1)).toEqual({ pending: [1], queued: [] });
    expect(el.pool.size).toEqual({ pending: 1, queued: 0 });
  });

  it("re-injects the transactions of a reorged-out block that the new block does not hold", async () => {
    const el = await freshEl();
    const genesisHash = el.chain.head.hash();
    const onlyX = signTx(el, 0, { nonce: 0 });
    const onlyX2 = signTx(el, 0, { nonce: 1 });
    const both = signTx(el, 1, { nonce: 0 });
    const onlyY = signTx(el, 2, { nonce: 0 });
    const x = await buildOnHead(el, [onlyX, both, onlyX2], 3);
    const y = await buildOnHead(el, [both, onlyY], 4);
    expect(bytesToHex(x.header.parentHash)).toBe(bytesToHex(genesisHash));
    expect(bytesToHex(y.header.parentHash)).toBe(bytesToHex(genesisHash));
    expect(await el.chain.insertBlock(x)).toBe(true);
    expect(await el.chain.insertBlock(y)).toBe(true);

    // Y's own transaction waits in the pool while X is canonical.
    await el.pool.add(onlyY);
    await el.chain.setHead(x.hash());
    await settled(el);
    expect(el.pool.size).toEqual({ pending: 1, queued: 0 });

    const change = await el.chain.setHead(y.hash());
    expect(change.removed.map((b) => bytesToHex(b.hash()))).toEqual([bytesToHex(x.hash())]);
    expect(change.added.map((b) => bytesToHex(b.hash()))).toEqual([bytesToHex(y.hash())]);
    await settled(el);
    // onlyY was mined by Y: gone. X's transactions that Y does not hold are back, executable.
    expect(el.pool.get(onlyY.hash())).toBeUndefined();
    expect(el.pool.get(both.hash())).toBeUndefined();
    expect(el.pool.get(onlyX.hash())).toBeDefined();
    expect(el.pool.get(onlyX2.hash())).toBeDefined();
    expect(contentOf(el, 0)).toEqual({ pending: [0, 1], queued: [] });
    expect(el.pool.size).toEqual({ pending: 2, queued: 0 });
    // And the next block built from the pool mines them.
    await produceBlock(el);
    expect(el.chain.head.transactions.map(hex)).toEqual([hex(onlyX), hex(onlyX2)]);
    expect(el.pool.size).toEqual({ pending: 0, queued: 0 });
  });

  it("re-injected transactions stay remote: they can be evicted and are not journaled", async () => {
    const el = await freshEl({ globalSlots: 2 });
    const fromX = signTx(el, 0, { nonce: 0, tip: 2n * GWEI });
    const x = await buildOnHead(el, [fromX], 3);
    const y = await buildOnHead(el, [], 4);
    await el.chain.insertBlock(x);
    await el.chain.insertBlock(y);
    await el.chain.setHead(x.hash());
    await el.chain.setHead(y.hash());
    await settled(el);
    expect(el.pool.get(fromX.hash())?.local).toBe(false);
    await el.pool.drop([]);
    expect(await journalCount(el)).toBe(0);
    await el.pool.add(signTx(el, 1, { nonce: 0, tip: 3n * GWEI }));
    await el.pool.add(signTx(el, 2, { nonce: 0, tip: 4n * GWEI }));
    expect(el.pool.get(fromX.hash())).toBeUndefined();
  });
});

describe("journal", () => {
  it("restores local transactions (pending and queued) across close and reopen, not remote ones", async () => {
    const datadir = tempDir();
    const el = await openEl(datadir);
    const pending = signTx(el, 0, { nonce: 0 });
    const queued = signTx(el, 0, { nonce: 2 });
    const mined = signTx(el, 1, { nonce: 0 });
    const remote = signTx(el, 2, { nonce: 0 });
    await el.pool.add(pending, { local: true });
    await el.pool.add(queued, { local: true });
    await el.pool.add(mined, { local: true });
    await el.pool.add(remote);
    await el.close();

    const el2 = await openEl(datadir);
    expect(el2.pool.get(pending.hash())?.local).toBe(true);
    expect(el2.pool.get(queued.hash())?.local).toBe(true);
    expect(el2.pool.get(mined.hash())).toBeDefined();
    expect(el2.pool.get(remote.hash())).toBeUndefined();
    expect(contentOf(el2, 0)).toEqual({ pending: [0], queued: [2] });
    expect(await journalCount(el2)).toBe(3);

    // Mine sender 1's transaction by a block that is not from this pool's pending set.
    await el2.chain.importBlock(await buildOnHead(el2, [el2.pool.get(mined.hash())!.tx]));
    await settled(el2);
    expect(el2.pool.get(mined.hash())).toBeUndefined();
    await el2.close();

    const el3 = await openEl(datadir);
    expect(el3.pool.get(mined.hash())).toBeUndefined();
    expect(contentOf(el3, 0)).toEqual({ pending: [0], queued: [2] });
    expect(await journalCount(el3)).toBe(2);
    // A journaled replacement replaces the entry.
    const bumped = signTx(el3, 0, { nonce: 2, tip: 2n * GWEI, feeCap: 20n * GWEI });
    await el3.pool.add(bumped, { local: true });
    await el3.close();
    const el4 = await openEl(datadir);
    expect(el4.pool.get(queued.hash())).toBeUndefined();
    expect(el4.pool.get(bumped.hash())).toBeDefined();
    expect(await journalCount(el4)).toBe(2);
  });
});
