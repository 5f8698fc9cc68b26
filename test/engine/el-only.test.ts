/**
 * Two real nodes over loopback: A, a dev node, produces blocks with transactions; B, an
 * EL-only node on the same genesis, is driven only through `HttpEngine` (JWT over HTTP) with
 * A's payloads, as a consensus client would drive it.
 */
import { Block, createBlockHeader } from "@ethereumjs/block";
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockToPayload } from "../../node/execution/engine/payload.ts";
import {
  EngineError,
  type ExecutionPayloadV3,
  type GetPayloadV4Response,
  type Hex,
} from "../../node/execution/engine/types.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";
import { devGenesis, type ElOnlyHandle, startElOnlyNode } from "./helpers.ts";

const ZERO = `0x${"00".repeat(32)}` as Hex;

interface Delivery {
  payload: ExecutionPayloadV3;
  beaconRoot: Hex;
  requests: Hex[];
  block: Block;
}

describe("EL-only node driven over the Engine API by another node's payloads", () => {
  let a: DevNodeHandle;
  let b: ElOnlyHandle;
  /** What A's in-process engine handed its producer, by block hash. */
  const built = new Map<string, GetPayloadV4Response>();

  beforeAll(async () => {
    const genesis = devGenesis();
    [a, b] = await Promise.all([startDevNode({ genesis, automine: true }), startElOnlyNode(genesis)]);
    const engine = a.node.el.engine;
    const getPayloadV4 = engine.getPayloadV4.bind(engine);
    engine.getPayloadV4 = async (id) => {
      const response = await getPayloadV4(id);
      built.set(response.executionPayload.blockHash, response);
      return response;
    };
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  /** A mines one block holding a transfer (automine); returns its delivery for B. */
  async function mineOnA(value: number): Promise<Delivery> {
    const [from, to] = a.accounts;
    await a.call("eth_sendTransaction", [
      { from: from.address, to: to.address, value: `0x${value.toString(16)}` },
    ]);
    const block = a.node.el.chain.head;
    expect(block.transactions.length).toBe(1);
    const hash = bytesToHex(block.hash());
    const response = built.get(hash);
    if (response === undefined) throw new Error(`A did not build ${hash} through getPayloadV4`);
    // The payload reconstructed from A's stored block is the one A's engine built.
    expect(blockToPayload(block)).toEqual(response.executionPayload);
    return {
      payload: response.executionPayload,
      beaconRoot: bytesToHex(block.header.parentBeaconBlockRoot ?? new Uint8Array(32)) as Hex,
      requests: response.executionRequests,
      block,
    };
  }

  const deliver = (d: Delivery, payload = d.payload) =>
    b.engine.newPayloadV4(payload, [], d.beaconRoot, d.requests);
  const fcu = (head: Hex, safe: Hex = ZERO, finalized: Hex = ZERO) =>
    b.engine.forkchoiceUpdatedV3(
      { headBlockHash: head, safeBlockHash: safe, finalizedBlockHash: finalized },
      null,
    );
  const bNumber = async () => BigInt(await b.call<Hex>("eth_blockNumber"));

  it("shares A's genesis", async () => {
    const genesisA = await a.call<{ hash: Hex }>("eth_getBlockByNumber", ["0x0", false]);
    const genesisB = await b.call<{ hash: Hex }>("eth_getBlockByNumber", ["0x0", false]);
    expect(genesisB.hash).toBe(genesisA.hash);
    expect(b.node.producer).toBeUndefined();
  });

  it("imports A's payloads (VALID), answers SYNCING for an unknown parent, and follows forkchoiceUpdated", async () => {
    const genesisHash = bytesToHex(a.node.el.chain.genesis.hash()) as Hex;
    const d1 = await mineOnA(1);
    const d2 = await mineOnA(2);
    const d3 = await mineOnA(3);

    // Block 2 before block 1: its parent is unknown to B.
    expect(await deliver(d2)).toEqual({ status: "SYNCING", latestValidHash: null, validationError: null });

    expect(await deliver(d1)).toEqual({
      status: "VALID",
      latestValidHash: d1.payload.blockHash,
      validationError: null,
    });
    // newPayload alone does not move the head.
    expect(await bNumber()).toBe(0n);
    expect(await fcu(d1.payload.blockHash, genesisHash, genesisHash)).toEqual({
      payloadStatus: { status: "VALID", latestValidHash: d1.payload.blockHash, validationError: null },
      payloadId: null,
    });
    expect(await bNumber()).toBe(1n);

    expect((await deliver(d2)).status).toBe("VALID");
    expect((await deliver(d3)).status).toBe("VALID");
    // Delivering a known payload again is VALID without re-import.
    expect((await deliver(d3)).status).toBe("VALID");
    expect(
      (await fcu(d3.payload.blockHash, d2.payload.blockHash, d1.payload.blockHash)).payloadStatus.status,
    ).toBe("VALID");
    expect(await bNumber()).toBe(3n);
    expect(await b.engine.request("eth_blockNumber", [])).toBe("0x3");
    const tag = async (t: string) => (await b.call<{ hash: Hex }>("eth_getBlockByNumber", [t, false])).hash;
    expect(await tag("latest")).toBe(d3.payload.blockHash);
    expect(await tag("safe")).toBe(d2.payload.blockHash);
    expect(await tag("finalized")).toBe(d1.payload.blockHash);
    // Same state as A: the transfers landed.
    const recipient = a.accounts[1].address;
    expect(await b.call("eth_getBalance", [recipient, "0x3"])).toBe(
      await a.call("eth_getBalance", [recipient, "0x3"]),
    );
    const txHash = bytesToHex(d2.block.transactions[0].hash());
    const receipt = await b.call<{ blockHash: Hex; status: Hex }>("eth_getTransactionReceipt", [txHash]);
    expect(receipt).toMatchObject({ blockHash: d2.payload.blockHash, status: "0x1" });

    // The head can also move back (reorg to an ancestor) on the CL's word.
    await fcu(d2.payload.blockHash, d2.payload.blockHash, d1.payload.blockHash);
    expect(await bNumber()).toBe(2n);
    await fcu(d3.payload.blockHash, d2.payload.blockHash, d1.payload.blockHash);
    expect(await bNumber()).toBe(3n);
  });

  it("returns INVALID for a bad state root and INVALID_BLOCK_HASH for a wrong hash", async () => {
    const d4 = await mineOnA(4);
    const parentHash = d4.payload.parentHash;
    expect(bytesToHex(b.node.el.chain.head.hash())).toBe(parentHash);

    // Bad state root, with a block hash consistent with it.
    const { block } = d4;
    const header = createBlockHeader(
      { ...block.header.toJSON(), stateRoot: `0x${"11".repeat(32)}` },
      { common: block.common },
    );
    const tampered = blockToPayload(
      new Block(header, block.transactions, [], block.withdrawals, { common: block.common }),
    );
    expect(tampered.blockHash).not.toBe(d4.payload.blockHash);
    const invalid = await deliver(d4, tampered);
    expect(invalid.status).toBe("INVALID");
    expect(invalid.latestValidHash).toBe(parentHash);
    expect(invalid.validationError).toMatch(/state ?root/i);
    // forkchoiceUpdated to the invalid block is refused, the head stays.
    expect((await fcu(tampered.blockHash)).payloadStatus.status).toBe("INVALID");
    expect(await bNumber()).toBe(3n);

    // Wrong block hash; and a changed field under the original hash.
    const wrongHash = await deliver(d4, { ...d4.payload, blockHash: `0x${"22".repeat(32)}` });
    expect(wrongHash.status).toBe("INVALID_BLOCK_HASH");
    expect(wrongHash.latestValidHash).toBeNull();
    const changed = await deliver(d4, { ...d4.payload, extraData: "0x1234" });
    expect(changed.status).toBe("INVALID_BLOCK_HASH");

    // The real block is still VALID.
    expect((await deliver(d4)).status).toBe("VALID");
    expect((await fcu(d4.payload.blockHash)).payloadStatus.status).toBe("VALID");
    expect(await bNumber()).toBe(4n);
  });

  it("rejects an unknown finalized hash with -38002 and leaves the head alone", async () => {
    const head = bytesToHex(b.node.el.chain.head.hash()) as Hex;
    const err = await fcu(head, ZERO, `0x${"33".repeat(32)}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe(-38002);
    expect(await bNumber()).toBe(4n);
  });

  it("never produces a block on its own, but builds one when the CL asks", async () => {
    const account = privateKeyToAccount(a.accounts[7].privateKey as Hex);
    const raw = await account.signTransaction({
      chainId: 1337,
      type: "eip1559",
      to: a.accounts[8].address as Hex,
      value: 5n,
      nonce: 0,
      gas: 21_000n,
      maxFeePerGas: 100_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const txHash = await b.call<Hex>("eth_sendRawTransaction", [raw]);
    expect(b.node.el.pool.get(txHash)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await bNumber()).toBe(4n);
    expect(b.node.el.pool.get(txHash)).toBeDefined();

    // The CL asks B to build on its head: the pending transaction goes into the payload.
    const head = b.node.el.chain.head;
    const headHash = bytesToHex(head.hash()) as Hex;
    const started = await b.engine.forkchoiceUpdatedV3(
      { headBlockHash: headHash, safeBlockHash: ZERO, finalizedBlockHash: ZERO },
      {
        timestamp: `0x${(head.header.timestamp + 1n).toString(16)}`,
        prevRandao: `0x${"44".repeat(32)}`,
        suggestedFeeRecipient: a.accounts[9].address as Hex,
        withdrawals: [],
        parentBeaconBlockRoot: `0x${"55".repeat(32)}`,
      },
    );
    expect(started.payloadStatus.status).toBe("VALID");
    expect(started.payloadId).toMatch(/^0x[0-9a-f]{16}$/);
    const payload = await b.engine.getPayloadV4(started.payloadId as Hex);
    expect(payload.executionPayload.transactions).toEqual([raw]);
    expect(payload.executionPayload.parentHash).toBe(headHash);
    // Building alone does not change the head; importing and choosing it does.
    expect(await bNumber()).toBe(4n);
    const status = await b.engine.newPayloadV4(
      payload.executionPayload,
      [],
      `0x${"55".repeat(32)}`,
      payload.executionRequests,
    );
    expect(status.status).toBe("VALID");
    await fcu(payload.executionPayload.blockHash);
    expect(await bNumber()).toBe(5n);
    expect(hexToBytes(payload.executionPayload.blockHash)).toEqual(b.node.el.chain.head.hash());
  });
});
