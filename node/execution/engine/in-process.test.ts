/**
 * The in-process Engine API on real LevelDB chains: SYNCING for an unknown head, the error codes
 * for bad payload attributes and unknown payload ids, idempotent payload building, and
 * newPayload for a payload built here (imported without re-execution) or by another instance of
 * the same chain (re-executed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import { bytesToHex, createAddressFromString, hexToBytes } from "@ethereumjs/util";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  deriveDevAccounts,
  devnetDefinition,
  resolveGenesis,
  TEST_MNEMONIC,
} from "../../../genesis/index.ts";
import { silentLogger } from "../../utils/logger.ts";
import { ExecutionLayer } from "../index.ts";
import { EngineError, EngineErrorCode, type Hex, type PayloadAttributesV3 } from "./types.ts";

const ZERO = `0x${"00".repeat(32)}` as Hex;
const accounts = deriveDevAccounts(TEST_MNEMONIC, 4);
const genesis = resolveGenesis(
  devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 4, balance: "10000" } }),
  { now: 1_700_000_000 },
);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function openEl(): Promise<ExecutionLayer> {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-engine-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const el = await ExecutionLayer.open({ datadir: dir, genesis }, { logger: silentLogger() });
  cleanups.push(() => el.close());
  return el;
}

const headHex = (el: ExecutionLayer) => bytesToHex(el.chain.head.hash()) as Hex;
const fcuState = (head: Hex) => ({ headBlockHash: head, safeBlockHash: ZERO, finalizedBlockHash: ZERO });

function attributes(el: ExecutionLayer, overrides: Partial<PayloadAttributesV3> = {}): PayloadAttributesV3 {
  return {
    timestamp: `0x${(el.chain.head.header.timestamp + 12n).toString(16)}`,
    prevRandao: `0x${"ab".repeat(32)}`,
    suggestedFeeRecipient: accounts[3].address as Hex,
    withdrawals: [],
    parentBeaconBlockRoot: ZERO,
    ...overrides,
  };
}

async function engineError(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error("expected an Engine API error");
}

async function addTransfer(el: ExecutionLayer, from: number, nonce: number): Promise<Hex> {
  const head = el.chain.head.header;
  const tx = createFeeMarket1559Tx(
    {
      chainId: el.chain.config.chainId,
      nonce: BigInt(nonce),
      maxPriorityFeePerGas: 10n ** 9n,
      maxFeePerGas: 10n ** 11n,
      gasLimit: 21_000n,
      to: createAddressFromString(accounts[2].address),
      value: 12345n,
    },
    { common: el.chain.config.commonAt(head.number + 1n, head.timestamp + 1n) },
  ).sign(hexToBytes(accounts[from].privateKey as Hex));
  await el.pool.add(tx);
  return bytesToHex(tx.hash()) as Hex;
}

describe("forkchoiceUpdated", () => {
  it("answers SYNCING for an unknown head and changes nothing", async () => {
    const el = await openEl();
    const before = headHex(el);
    const unknown = `0x${"42".repeat(32)}` as Hex;
    const response = await el.engine.forkchoiceUpdatedV3(fcuState(unknown), attributes(el));
    expect(response).toEqual({
      payloadStatus: { status: "SYNCING", latestValidHash: null, validationError: null },
      payloadId: null,
    });
    expect(headHex(el)).toBe(before);
  });

  it("refuses payload attributes whose timestamp is not after the head's with -38003", async () => {
    const el = await openEl();
    const head = el.chain.head.header.timestamp;
    for (const timestamp of [head, head - 1n]) {
      const err = await engineError(
        el.engine.forkchoiceUpdatedV3(
          fcuState(headHex(el)),
          attributes(el, { timestamp: `0x${timestamp.toString(16)}` }),
        ),
      );
      expect(err.code).toBe(EngineErrorCode.INVALID_PAYLOAD_ATTRIBUTES);
      expect(err.code).toBe(-38003);
    }
  });

  it("refuses safe/finalized blocks that are unknown with -38002", async () => {
    const el = await openEl();
    const err = await engineError(
      el.engine.forkchoiceUpdatedV3(
        { headBlockHash: headHex(el), safeBlockHash: `0x${"42".repeat(32)}`, finalizedBlockHash: ZERO },
        null,
      ),
    );
    expect(err.code).toBe(EngineErrorCode.INVALID_FORKCHOICE_STATE);
  });
});

describe("getPayload", () => {
  it("answers -38001 for an unknown payload id", async () => {
    const el = await openEl();
    for (const call of [el.engine.getPayloadV4.bind(el.engine), el.engine.getPayloadV3.bind(el.engine)]) {
      const err = await engineError(call("0x0123456789abcdef"));
      expect(err.code).toBe(EngineErrorCode.UNKNOWN_PAYLOAD);
      expect(err.code).toBe(-38001);
    }
  });

  it("returns the same payload id (and payload) for the same attributes on the same head", async () => {
    const el = await openEl();
    await addTransfer(el, 0, 0);
    const attrs = attributes(el);
    const first = await el.engine.forkchoiceUpdatedV3(fcuState(headHex(el)), attrs);
    const second = await el.engine.forkchoiceUpdatedV3(fcuState(headHex(el)), { ...attrs });
    expect(first.payloadStatus.status).toBe("VALID");
    expect(first.payloadId).toMatch(/^0x[0-9a-f]{16}$/);
    expect(second.payloadId).toBe(first.payloadId);
    const a = await el.engine.getPayloadV4(first.payloadId as Hex);
    const b = await el.engine.getPayloadV4(second.payloadId as Hex);
    expect(b.executionPayload).toEqual(a.executionPayload);
    expect(a.executionPayload.transactions.length).toBe(1);
    // Other attributes: another payload.
    const other = await el.engine.forkchoiceUpdatedV3(
      fcuState(headHex(el)),
      attributes(el, { prevRandao: `0x${"cd".repeat(32)}` }),
    );
    expect(other.payloadId).not.toBe(first.payloadId);
  });
});

describe("newPayload", () => {
  it("imports a payload built here without executing it again, and one from another instance by executing it", async () => {
    const builder = await openEl();
    const follower = await openEl();
    expect(headHex(follower)).toBe(headHex(builder));
    const txHash = await addTransfer(builder, 0, 0);
    await addTransfer(builder, 1, 0);

    const fcu = await builder.engine.forkchoiceUpdatedV3(fcuState(headHex(builder)), attributes(builder));
    const { executionPayload, executionRequests } = await builder.engine.getPayloadV4(fcu.payloadId as Hex);
    expect(executionPayload.transactions.length).toBe(2);

    const builderExecute = vi.spyOn(builder.chain.executor, "execute");
    const own = await builder.engine.newPayloadV4(executionPayload, [], ZERO, executionRequests);
    expect(own).toEqual({
      status: "VALID",
      latestValidHash: executionPayload.blockHash,
      validationError: null,
    });
    expect(builderExecute).not.toHaveBeenCalled();

    const followerExecute = vi.spyOn(follower.chain.executor, "execute");
    const theirs = await follower.engine.newPayloadV4(executionPayload, [], ZERO, executionRequests);
    expect(theirs).toEqual({
      status: "VALID",
      latestValidHash: executionPayload.blockHash,
      validationError: null,
    });
    expect(followerExecute).toHaveBeenCalledTimes(1);
    // Delivered again: already known, not executed again.
    expect((await follower.engine.newPayloadV4(executionPayload, [], ZERO, executionRequests)).status).toBe(
      "VALID",
    );
    expect(followerExecute).toHaveBeenCalledTimes(1);

    for (const el of [builder, follower]) {
      const response = await el.engine.forkchoiceUpdatedV3(fcuState(executionPayload.blockHash), null);
      expect(response.payloadStatus.status).toBe("VALID");
      expect(headHex(el)).toBe(executionPayload.blockHash);
      expect(bytesToHex(el.chain.head.header.stateRoot)).toBe(executionPayload.stateRoot);
      const found = el.chain.store.getTransaction(hexToBytes(txHash));
      expect(found?.block.header.number).toBe(1n);
      expect(el.chain.store.getReceipts(hexToBytes(executionPayload.blockHash))?.length).toBe(2);
    }
  });

  it("answers SYNCING for a payload whose parent is unknown", async () => {
    const builder = await openEl();
    const follower = await openEl();
    const first = await builder.engine.forkchoiceUpdatedV3(fcuState(headHex(builder)), attributes(builder));
    const p1 = (await builder.engine.getPayloadV4(first.payloadId as Hex)).executionPayload;
    await builder.engine.newPayloadV4(p1, [], ZERO, []);
    await builder.engine.forkchoiceUpdatedV3(fcuState(p1.blockHash), null);
    const second = await builder.engine.forkchoiceUpdatedV3(fcuState(p1.blockHash), attributes(builder));
    const p2 = (await builder.engine.getPayloadV4(second.payloadId as Hex)).executionPayload;
    const status = await follower.engine.newPayloadV4(p2, [], ZERO, []);
    expect(status.status).toBe("SYNCING");
    expect(follower.chain.store.hasBlock(hexToBytes(p2.blockHash))).toBe(false);
    // Once the parent arrives, the child imports.
    expect((await follower.engine.newPayloadV4(p1, [], ZERO, [])).status).toBe("VALID");
    expect((await follower.engine.newPayloadV4(p2, [], ZERO, [])).status).toBe("VALID");
  });
});
