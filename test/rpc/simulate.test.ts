/**
 * eth_simulateV1 against a real dev node: chained blocks carrying state, geth's default block
 * numbers and timestamps (+1, +12 s) and gap filling, block and state overrides (including a
 * moved precompile), reverts with data, VM errors, ERC-7528 transfer logs, validation errors
 * with the execution-apis codes, and gas figures checked against real transactions.
 */
import { bigIntToBytes, bytesToHex, generateAddress, hexToBytes, toChecksumAddress } from "@ethereumjs/util";
import { sha256 } from "ethereum-cryptography/sha256";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256 } from "../../node/execution/crypto.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

interface SimLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  transactionHash: string;
  transactionIndex: string;
  blockHash: string;
  blockTimestamp: string;
  logIndex: string;
  removed: boolean;
}
interface SimCall {
  returnData: string;
  logs: SimLog[];
  gasUsed: string;
  maxUsedGas: string;
  status: string;
  error?: { code: number; message: string; data?: string };
}
interface SimBlock {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
  miner: string;
  mixHash: string;
  stateRoot: string;
  gasLimit: string;
  gasUsed: string;
  baseFeePerGas: string;
  transactions: (string | Record<string, string>)[];
  calls: SimCall[];
}
interface Header {
  number: string;
  hash: string;
  timestamp: string;
  miner: string;
  gasLimit: string;
  gasUsed: string;
  baseFeePerGas: string;
  stateRoot: string;
}

const word = (n: bigint | number) => `0x${BigInt(n).toString(16).padStart(64, "0")}`;
const pad = (hex: string) => `0x${hex.replace(/^0x/, "").padStart(64, "0")}`;
const q = (n: bigint | number) => `0x${BigInt(n).toString(16)}`;

// PUSH1 0 SLOAD PUSH1 1 ADD DUP1 PUSH1 0 SSTORE PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN:
// increments slot 0 and returns the new value.
const COUNTER_CODE = "0x6000546001018060005560005260206000f3";
// Returns NUMBER, TIMESTAMP, COINBASE, BASEFEE, PREVRANDAO as five words.
const ENV_CODE = "0x436000524260205241604052486060524460805260a06000f3";
// Returns BLOCKHASH(calldata word 0).
const BLOCKHASH_CODE = "0x6000354060005260206000f3";
// Reverts with Error("nope").
const NOPE = `6e6f7065${"00".repeat(28)}`;
// PUSH32 selector MSTORE(0); MSTORE(4, 0x20); MSTORE(0x24, 4); PUSH32 "nope" MSTORE(0x44); REVERT(0, 0x64)
const REVERT_CODE = `0x7f08c379a0${"00".repeat(28)}600052602060045260046024527f${NOPE}60445260646000fd`;
const REVERT_DATA = `0x08c379a0${word(0x20).slice(2)}${word(4).slice(2)}${NOPE}`;
// PUSH1 0 PUSH1 0 SSTORE: clears slot 0 (earning a refund).
const CLEAR_CODE = "0x6000600055";
// Returns BLOBBASEFEE.
const BLOB_FEE_CODE = "0x4a60005260206000f3";
/** LOG0 (empty), then CALL `target` forwarding CALLVALUE, then STOP. */
const forwarderCode = (target: string) => `0x60006000a0600060006000600034${`73${target.slice(2)}`}5af15000`;

const COUNTER = "0x000000000000000000000000000000000000c0de";
const ENV = "0x0000000000000000000000000000000000000e01";
const HASHER = "0x0000000000000000000000000000000000000b10";
const REVERTER = "0x00000000000000000000000000000000000000ff";
const FORWARDER = "0x0000000000000000000000000000000000000f0f";
const SINK = "0x00000000000000000000000000000000000000aa";
const TRANSFER_ADDRESS = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const TRANSFER_TOPIC = bytesToHex(keccak256(new TextEncoder().encode("Transfer(address,address,uint256)")));

/** EIP-1559 base fee of the block after `parent` (elasticity 2, change denominator 8). */
function nextBaseFee(parent: Header): bigint {
  const base = BigInt(parent.baseFeePerGas);
  const used = BigInt(parent.gasUsed);
  const target = BigInt(parent.gasLimit) / 2n;
  if (used === target) return base;
  if (used > target) {
    const delta = (base * (used - target)) / target / 8n;
    return base + (delta > 1n ? delta : 1n);
  }
  return base - (base * (target - used)) / target / 8n;
}

describe("eth_simulateV1", () => {
  let dev: DevNodeHandle;
  let sender: string;
  let senderChecksum: string;
  let deployedCounter: string;
  let head: Header;

  async function simulate(request: Record<string, unknown>, block: unknown = "latest") {
    return dev.rpc("eth_simulateV1", [request, block]);
  }
  async function simulateOk(
    request: Record<string, unknown>,
    block: unknown = "latest",
  ): Promise<SimBlock[]> {
    const response = await simulate(request, block);
    expect(response.error).toBeUndefined();
    return response.result as SimBlock[];
  }

  beforeAll(async () => {
    dev = await startDevNode({ automine: true });
    sender = dev.accounts[1].address.toLowerCase();
    senderChecksum = toChecksumAddress(sender);
    // A real counter contract (init code deploys COUNTER_CODE) to compare against real receipts.
    const runtime = COUNTER_CODE.slice(2);
    const deploy = await dev.call<string>("eth_sendTransaction", [
      { from: sender, gas: "0x30d40", data: `0x601260${"0c"}60003960126000f3${runtime}` },
    ]);
    deployedCounter = (await dev.call<{ contractAddress: string }>("eth_getTransactionReceipt", [deploy]))
      .contractAddress;
    head = await dev.call<Header>("eth_getBlockByNumber", ["latest", false]);
  });
  afterAll(async () => {
    await dev.stop();
  });

  it("chains blocks: state carries over, numbers +1, timestamps +12 s, parents linked, nothing stored", async () => {
    const blocks = await simulateOk(
      {
        blockStateCalls: [
          {
            stateOverrides: { [COUNTER]: { code: COUNTER_CODE } },
            calls: [
              { from: sender, to: COUNTER },
              { from: sender, to: COUNTER },
            ],
          },
          { calls: [{ from: sender, to: COUNTER }] },
        ],
      },
      head.number,
    );
    expect(blocks).toHaveLength(2);
    const [first, second] = blocks;
    expect(first.number).toBe(q(BigInt(head.number) + 1n));
    expect(second.number).toBe(q(BigInt(head.number) + 2n));
    expect(first.timestamp).toBe(q(BigInt(head.timestamp) + 12n));
    expect(second.timestamp).toBe(q(BigInt(head.timestamp) + 24n));
    expect(first.parentHash).toBe(head.hash);
    expect(second.parentHash).toBe(first.hash);
    expect(first.miner).toBe(head.miner);
    expect(first.gasLimit).toBe(head.gasLimit);
    // Without validation the base fee defaults to zero.
    expect(first.baseFeePerGas).toBe("0x0");
    expect(first.mixHash).toBe(word(0));

    expect(first.calls.map((c) => c.returnData)).toEqual([word(1), word(2)]);
    expect(second.calls.map((c) => c.returnData)).toEqual([word(3)]);
    // 21000 + cold SLOAD 2100 + SSTORE 0->1 20000 + 10 cheap ops (30) = 43130;
    // then SSTORE 1->2 (2900) in a new transaction: 26030.
    expect(first.calls.map((c) => c.gasUsed)).toEqual([q(43_130), q(26_030)]);
    expect(first.calls.map((c) => c.maxUsedGas)).toEqual([q(43_130), q(26_030)]);
    expect(first.calls.map((c) => c.status)).toEqual(["0x1", "0x1"]);
    expect(first.calls[0].logs).toEqual([]);
    expect(first.calls[0].error).toBeUndefined();
    expect(first.gasUsed).toBe(q(43_130 + 26_030));
    expect(second.gasUsed).toBe(q(26_030));
    expect(first.transactions).toHaveLength(2);
    expect(first.transactions[0]).toMatch(/^0x[0-9a-f]{64}$/);
    expect(first.stateRoot).not.toBe(head.stateRoot);
    expect(second.stateRoot).not.toBe(first.stateRoot);

    // Nothing reached the chain.
    expect(await dev.call<string>("eth_blockNumber")).toBe(head.number);
    expect(await dev.call<string>("eth_getCode", [COUNTER, "latest"])).toBe("0x");
  });

  it("matches the gas and effects of the same transaction mined for real", async () => {
    const [block] = await simulateOk({
      blockStateCalls: [{ calls: [{ from: sender, to: deployedCounter, gas: "0x186a0" }] }],
    });
    expect(block.calls[0].returnData).toBe(word(1));
    const hash = await dev.call<string>("eth_sendTransaction", [
      { from: sender, to: deployedCounter, gas: "0x186a0" },
    ]);
    const receipt = await dev.call<{ gasUsed: string }>("eth_getTransactionReceipt", [hash]);
    expect(block.calls[0].gasUsed).toBe(receipt.gasUsed);
    expect(receipt.gasUsed).toBe(q(43_130));
    // The next simulation starts from the new head: the counter is at 1 now.
    const [next] = await simulateOk({
      blockStateCalls: [{ calls: [{ from: sender, to: deployedCounter }] }],
    });
    expect(next.calls[0].returnData).toBe(word(2));
    head = await dev.call<Header>("eth_getBlockByNumber", ["latest", false]);
  });

  it("fills gaps in block numbers and applies block overrides, carrying the fee recipient", async () => {
    const coinbase = "0x00000000000000000000000000000000000c0b0e";
    const randao = word(0x1234);
    const base = BigInt(head.number);
    const time = BigInt(head.timestamp);
    const blocks = await simulateOk({
      blockStateCalls: [
        {
          blockOverrides: {
            number: q(base + 3n),
            time: q(time + 100n),
            feeRecipient: coinbase,
            prevRandao: randao,
            baseFeePerGas: "0x7",
          },
          stateOverrides: { [ENV]: { code: ENV_CODE } },
          calls: [{ from: sender, to: ENV }],
        },
        { calls: [{ from: sender, to: ENV }] },
      ],
    });
    expect(blocks.map((b) => b.number)).toEqual([q(base + 1n), q(base + 2n), q(base + 3n), q(base + 4n)]);
    expect(blocks.map((b) => b.timestamp)).toEqual([
      q(time + 12n),
      q(time + 24n),
      q(time + 100n),
      q(time + 112n),
    ]);
    expect(blocks[0].transactions).toEqual([]);
    expect(blocks[0].calls).toEqual([]);
    expect(blocks[1].parentHash).toBe(blocks[0].hash);
    expect(blocks[2].parentHash).toBe(blocks[1].hash);
    expect(blocks[2].miner).toBe(coinbase);
    expect(blocks[2].mixHash).toBe(randao);
    expect(blocks[2].baseFeePerGas).toBe("0x7");
    // The overridden fee recipient carries over to later blocks; randao and base fee do not.
    expect(blocks[3].miner).toBe(coinbase);
    expect(blocks[3].mixHash).toBe(word(0));
    expect(blocks[3].baseFeePerGas).toBe("0x0");
    // NUMBER, TIMESTAMP, COINBASE, BASEFEE, PREVRANDAO as the EVM saw them. The call pays no
    // fee, so its BASEFEE is zero (see simulate.ts on ethereumjs' base fee check).
    const env = (b: SimBlock) =>
      b.calls[0].returnData
        .slice(2)
        .match(/.{64}/g)
        ?.map((w) => `0x${w}`);
    expect(env(blocks[2])).toEqual([word(base + 3n), word(time + 100n), pad(coinbase), word(0), randao]);
    expect(env(blocks[3])).toEqual([word(base + 4n), word(time + 112n), pad(coinbase), word(0), word(0)]);
  });

  it("resolves BLOCKHASH of stored and simulated blocks", async () => {
    const base = BigInt(head.number);
    const blocks = await simulateOk({
      blockStateCalls: [
        {
          stateOverrides: { [HASHER]: { code: BLOCKHASH_CODE } },
          calls: [{ to: HASHER, input: word(base) }],
        },
        {
          calls: [
            { to: HASHER, input: word(base + 1n) },
            { to: HASHER, input: word(base + 2n) },
          ],
        },
      ],
    });
    expect(blocks[0].calls[0].returnData).toBe(head.hash);
    expect(blocks[1].calls[0].returnData).toBe(blocks[0].hash);
    // The current block's own hash is not available.
    expect(blocks[1].calls[1].returnData).toBe(word(0));
  });

  it("rejects out-of-order numbers and timestamps and too many blocks", async () => {
    const base = BigInt(head.number);
    const time = BigInt(head.timestamp);
    const numbers = await simulate({
      blockStateCalls: [
        { blockOverrides: { number: q(base + 2n) } },
        { blockOverrides: { number: q(base + 2n) } },
      ],
    });
    expect(numbers.error).toEqual({
      code: -38020,
      message: `block numbers must be in order: ${base + 2n} <= ${base + 2n}`,
    });
    const stale = await simulate({ blockStateCalls: [{ blockOverrides: { number: q(base) } }] });
    expect(stale.error).toEqual({
      code: -38020,
      message: `block numbers must be in order: ${base} <= ${base}`,
    });
    const timestamps = await simulate({ blockStateCalls: [{ blockOverrides: { time: q(time) } }] });
    expect(timestamps.error).toEqual({
      code: -38021,
      message: `block timestamps must be in order: ${time} <= ${time}`,
    });
    // The default timestamp of a later block must still exceed an explicit earlier one.
    const later = await simulate({
      blockStateCalls: [
        { blockOverrides: { time: q(time + 50n) } },
        { blockOverrides: { time: q(time + 50n) } },
      ],
    });
    expect(later.error?.code).toBe(-38021);
    const far = await simulate({ blockStateCalls: [{ blockOverrides: { number: q(base + 257n) } }] });
    expect(far.error).toEqual({ code: -38026, message: "too many blocks" });
    const edge = await simulateOk({ blockStateCalls: [{ blockOverrides: { number: q(base + 256n) } }] });
    expect(edge).toHaveLength(256);
    const many = await simulate({ blockStateCalls: Array.from({ length: 257 }, () => ({})) });
    expect(many.error).toEqual({ code: -38026, message: "too many blocks" });
    const empty = await simulate({ blockStateCalls: [] });
    expect(empty.error).toEqual({ code: -32602, message: "empty input" });
  });

  it("reports reverts with their data and other EVM errors with -32015", async () => {
    const [block] = await simulateOk({
      blockStateCalls: [
        {
          stateOverrides: { [REVERTER]: { code: REVERT_CODE }, [ENV]: { code: "0xfe" } },
          calls: [
            { from: sender, to: REVERTER },
            { from: sender, to: ENV, gas: "0x186a0" },
            { from: sender, to: COUNTER },
          ],
        },
      ],
    });
    const [reverted, invalid, plain] = block.calls;
    expect(reverted.status).toBe("0x0");
    expect(reverted.returnData).toBe("0x");
    expect(reverted.error).toEqual({ message: "execution reverted: nope", code: 3, data: REVERT_DATA });
    // 21000 + 10 pushes (30) + 4 MSTOREs (12) + memory grown to 4 words (12); REVERT is free.
    expect(reverted.gasUsed).toBe(q(21_054));
    expect(invalid.status).toBe("0x0");
    expect(invalid.returnData).toBe("0x");
    expect(invalid.error).toEqual({ message: "invalid opcode: INVALID", code: -32015 });
    // An exceptional halt consumes all the gas given.
    expect(invalid.gasUsed).toBe(q(100_000));
    expect(plain.status).toBe("0x1");
    expect(block.gasUsed).toBe(q(21_054 + 100_000 + 21_000));
  });

  it("adds ERC-7528 transfer logs with traceTransfers, in execution order", async () => {
    const request = (traceTransfers: boolean) => ({
      traceTransfers,
      blockStateCalls: [
        {
          stateOverrides: { [FORWARDER]: { code: forwarderCode(SINK) } },
          calls: [{ from: sender, to: FORWARDER, value: "0x3e8", gas: "0x186a0" }],
        },
      ],
    });
    const [traced] = await simulateOk(request(true));
    const call = traced.calls[0];
    expect(call.status).toBe("0x1");
    const txHash = traced.transactions[0];
    const common = {
      blockNumber: traced.number,
      transactionHash: txHash,
      transactionIndex: "0x0",
      blockHash: traced.hash,
      blockTimestamp: traced.timestamp,
      removed: false,
    };
    expect(call.logs).toEqual([
      {
        address: TRANSFER_ADDRESS,
        topics: [TRANSFER_TOPIC, pad(sender), pad(FORWARDER)],
        data: word(1000),
        ...common,
        logIndex: "0x0",
      },
      { address: FORWARDER, topics: [], data: "0x", ...common, logIndex: "0x1" },
      {
        address: TRANSFER_ADDRESS,
        topics: [TRANSFER_TOPIC, pad(FORWARDER), pad(SINK)],
        data: word(1000),
        ...common,
        logIndex: "0x2",
      },
    ]);
    const [plain] = await simulateOk(request(false));
    expect(plain.calls[0].logs).toEqual([
      { address: FORWARDER, topics: [], data: "0x", ...common, logIndex: "0x0" },
    ]);
    // Transfer logs are not part of the block's bloom (receipts hold only real logs).
    expect(plain.hash).toBe(traced.hash);
  });

  it("traces self-destructs and creations, drops logs of failed frames, counts them as geth does", async () => {
    const inner = "0x0000000000000000000000000000000000000111";
    const outer = "0x0000000000000000000000000000000000000222";
    const doomed = "0x0000000000000000000000000000000000000333";
    const nonce = BigInt(await dev.call<string>("eth_getTransactionCount", [sender, "latest"]));
    const [block] = await simulateOk({
      traceTransfers: true,
      blockStateCalls: [
        {
          stateOverrides: {
            // LOG0, then REVERT(0, 0)
            [inner]: { code: "0x60006000a060006000fd" },
            // LOG0, CALL inner (fails), LOG0, STOP
            [outer]: { code: `0x60006000a06000600060006000600073${inner.slice(2)}5af15060006000a000` },
            // SELFDESTRUCT(SINK) with a balance of 500
            [doomed]: { code: `0x73${SINK.slice(2)}ff`, balance: "0x1f4" },
          },
          calls: [
            { from: sender, to: outer, gas: "0x30d40" },
            { from: sender, to: doomed, gas: "0x30d40" },
            // Creation with value: init code STOP deploys nothing.
            { from: sender, value: "0x7", input: "0x00", gas: "0x30d40" },
          ],
        },
      ],
    });
    const [logged, destructed, created] = block.calls;
    // The inner frame's log was dropped with it, but geth's index counter still moved on.
    expect(logged.logs.map((l) => [l.address, l.logIndex])).toEqual([
      [outer, "0x0"],
      [outer, "0x2"],
    ]);
    // No value was sent with the call; the self-destruct moves the contract's 500 wei.
    expect(destructed.logs.map((l) => [l.address, l.topics, l.data, l.logIndex])).toEqual([
      [TRANSFER_ADDRESS, [TRANSFER_TOPIC, pad(doomed), pad(SINK)], word(500), "0x3"],
    ]);
    const contract = bytesToHex(
      generateAddress(hexToBytes(sender as `0x${string}`), bigIntToBytes(nonce + 2n)),
    );
    expect(created.status).toBe("0x1");
    expect(created.logs.map((l) => [l.topics, l.data, l.logIndex])).toEqual([
      [[TRANSFER_TOPIC, pad(sender), pad(contract)], word(7), "0x4"],
    ]);
  });

  it("words EVM errors as geth does", async () => {
    const underflow = "0x0000000000000000000000000000000000000444";
    const undefinedOp = "0x0000000000000000000000000000000000000555";
    const [block] = await simulateOk({
      blockStateCalls: [
        {
          stateOverrides: { [underflow]: { code: "0x01" }, [undefinedOp]: { code: "0x0c" } },
          calls: [
            { from: sender, to: underflow, gas: "0x186a0" },
            { from: sender, to: undefinedOp, gas: "0x186a0" },
          ],
        },
      ],
    });
    expect(block.calls.map((c) => c.error)).toEqual([
      { message: "stack underflow (0 <=> 2)", code: -32015 },
      { message: "invalid opcode: opcode 0xc not defined", code: -32015 },
    ]);
  });

  it("applies balance, nonce and storage overrides and moves precompiles", async () => {
    const fresh = "0x0000000000000000000000000000000000001234";
    const moved = "0x0000000000000000000000000000000000005678";
    const [block] = await simulateOk({
      returnFullTransactions: true,
      blockStateCalls: [
        {
          stateOverrides: {
            [fresh]: { balance: "0xde0b6b3a7640000", nonce: "0x5" },
            [COUNTER]: { code: COUNTER_CODE, stateDiff: { [word(0)]: word(41) } },
            "0x0000000000000000000000000000000000000002": { movePrecompileToAddress: moved },
          },
          calls: [
            { from: fresh, to: SINK, value: "0xde0b6b3a7640000", gas: "0x5208" },
            { from: sender, to: COUNTER },
            { from: sender, to: moved, input: "0x" },
            { from: sender, to: "0x0000000000000000000000000000000000000002", input: "0x" },
            { from: sender, to: SINK, gasPrice: "0x3", gas: "0x5208" },
          ],
        },
      ],
    });
    const [transfer, counter, sha, vacated, legacy] = block.calls;
    expect(transfer.status).toBe("0x1");
    expect(transfer.gasUsed).toBe(q(21_000));
    expect(counter.returnData).toBe(word(42));
    // SHA-256 now answers at the new address; the old one is an empty account.
    expect(sha.returnData).toBe(bytesToHex(sha256(new Uint8Array(0))));
    expect(vacated.status).toBe("0x1");
    expect(vacated.returnData).toBe("0x");
    // Full transactions: the overridden nonce, the sender, unsigned signature fields.
    const tx = block.transactions[0] as Record<string, string>;
    expect(tx).toMatchObject({
      from: fresh,
      to: SINK,
      nonce: "0x5",
      gas: "0x5208",
      value: "0xde0b6b3a7640000",
      type: "0x2",
      maxFeePerGas: "0x0",
      maxPriorityFeePerGas: "0x0",
      blockHash: block.hash,
      blockNumber: block.number,
      transactionIndex: "0x0",
      v: "0x0",
      r: "0x0",
      s: "0x0",
    });
    const hashes = block.transactions.map((t) => (t as Record<string, string>).hash);
    expect(new Set(hashes).size).toBe(5);
    // A gas price makes a legacy transaction; unsigned, it carries no EIP-155 chain id.
    expect(legacy.status).toBe("0x1");
    const legacyTx = block.transactions[4] as Record<string, string>;
    expect(legacyTx).toMatchObject({ type: "0x0", gasPrice: "0x3", gas: "0x5208", v: "0x0" });
    expect(legacyTx.chainId).toBeUndefined();
    expect((block.transactions[0] as Record<string, string>).chainId).toBe(
      await dev.call<string>("eth_chainId"),
    );
    // A call without gas gets the block's remaining gas, capped by what is left of the
    // simulation's gas budget (the node's 50M gas cap less the 21000 the transfer used).
    expect((block.transactions[1] as Record<string, string>).gas).toBe(q(50_000_000 - 21_000));

    const notPrecompile = await simulate({
      blockStateCalls: [{ stateOverrides: { [fresh]: { movePrecompileToAddress: moved } } }],
    });
    expect(notPrecompile.error).toEqual({
      code: -32000,
      message: `account ${toChecksumAddress(fresh)} is not a precompile`,
    });
    const taken = await simulate({
      blockStateCalls: [
        {
          stateOverrides: {
            "0x0000000000000000000000000000000000000002": { movePrecompileToAddress: moved },
            [moved]: { balance: "0x1" },
          },
        },
      ],
    });
    expect(taken.error).toEqual({
      code: -32000,
      message: `account ${toChecksumAddress(moved)} is already overridden`,
    });
  });

  it("reports gas before refunds as maxUsedGas", async () => {
    const [block] = await simulateOk({
      blockStateCalls: [
        {
          stateOverrides: { [COUNTER]: { code: CLEAR_CODE, state: { [word(0)]: word(1) } } },
          calls: [{ from: sender, to: COUNTER }],
        },
      ],
    });
    // 21000 + 3 + 3 + SSTORE 1->0 on a cold slot (2900 + 2100) = 26006 before the refund;
    // the 4800 refund (below the 26006/5 cap) leaves 21206.
    expect(block.calls[0].maxUsedGas).toBe(q(26_006));
    expect(block.calls[0].gasUsed).toBe(q(21_206));
    expect(block.gasUsed).toBe(q(21_206));
  });

  it("overrides the blob base fee, beacon root and withdrawals", async () => {
    const beaconRoot = word(0xbeac);
    const recipient = "0x000000000000000000000000000000000000babe";
    const blocks = await simulateOk({
      blockStateCalls: [
        {
          blockOverrides: {
            blobBaseFee: "0x99",
            beaconRoot,
            withdrawals: [{ index: "0x0", validatorIndex: "0x1", address: recipient, amount: "0x3b9aca00" }],
          },
          stateOverrides: { [ENV]: { code: BLOB_FEE_CODE } },
          calls: [{ to: ENV }],
        },
        // 1 ether (1e9 Gwei) arrived with the withdrawal: the recipient can send it on.
        { calls: [{ from: recipient, to: SINK, value: "0xde0b6b3a7640000", gas: "0x5208" }, { to: ENV }] },
      ],
    });
    const [first, second] = blocks as (SimBlock & {
      parentBeaconBlockRoot: string;
      withdrawals: unknown[];
      withdrawalsRoot: string;
    })[];
    expect(first.calls[0].returnData).toBe(word(0x99));
    expect(first.parentBeaconBlockRoot).toBe(beaconRoot);
    expect(first.withdrawals).toEqual([
      { index: "0x0", validatorIndex: "0x1", address: recipient, amount: "0x3b9aca00" },
    ]);
    expect(first.withdrawalsRoot).not.toBe(second.withdrawalsRoot);
    expect(second.withdrawals).toEqual([]);
    expect(second.parentBeaconBlockRoot).toBe(word(0));
    expect(second.calls[0].status).toBe("0x1");
    // Without the override, the blob base fee follows the (zero) excess blob gas: 1 wei.
    expect(second.calls[1].returnData).toBe(word(1));
  });

  it("keeps geth's warm addresses around a moved precompile", async () => {
    const moved = "0x0000000000000000000000000000000000005678";
    const sha = "0x0000000000000000000000000000000000000002";
    /** STATICCALL(GAS, target, 0, 0, 0, 0) POP STOP */
    const caller = (target: string) => `0x600060006000600073${target.slice(2)}5afa5000`;
    const viaMoved = "0x0000000000000000000000000000000000000a01";
    const viaVacated = "0x0000000000000000000000000000000000000a02";
    const [block] = await simulateOk({
      blockStateCalls: [
        {
          stateOverrides: {
            [sha]: { movePrecompileToAddress: moved },
            [viaMoved]: { code: caller(moved) },
            [viaVacated]: { code: caller(sha) },
          },
          calls: [
            { from: sender, to: viaMoved },
            { from: sender, to: viaVacated },
          ],
        },
      ],
    });
    // 21000 + 4 PUSH1 + PUSH20 + GAS + POP = 21019, plus the STATICCALL's access:
    // the new address is cold (2600) and runs SHA-256 of nothing (60);
    // the vacated address stays warm (100), as geth warms the fork's precompile addresses.
    expect(block.calls.map((c) => c.gasUsed)).toEqual([q(21_019 + 2_600 + 60), q(21_019 + 100)]);
  });

  describe("validation", () => {
    it("enforces nonces, base fees, balances, intrinsic gas and the block gas limit", async () => {
      const nonce = BigInt(await dev.call<string>("eth_getTransactionCount", [sender, "latest"]));
      expect(nonce).toBeGreaterThan(1n);
      const baseFee = nextBaseFee(head);
      const fees = { maxFeePerGas: q(baseFee * 2n), maxPriorityFeePerGas: "0x1" };
      const run = (call: Record<string, unknown>) =>
        simulate({
          validation: true,
          blockStateCalls: [{ calls: [{ from: sender, to: SINK, gas: "0x5208", ...call }] }],
        });

      const ok = await simulate({
        validation: true,
        blockStateCalls: [
          {
            calls: [
              { from: sender, to: SINK, gas: "0x5208", nonce: q(nonce), value: "0x1", ...fees },
              { from: sender, to: SINK, gas: "0x5208", value: "0x1", ...fees },
            ],
          },
        ],
      });
      expect(ok.error).toBeUndefined();
      const [block] = ok.result as SimBlock[];
      expect(block.baseFeePerGas).toBe(q(baseFee));
      expect(block.calls.map((c) => c.status)).toEqual(["0x1", "0x1"]);
      expect(block.gasUsed).toBe(q(42_000));

      expect((await run({ nonce: q(nonce - 1n), ...fees })).error).toEqual({
        code: -38010,
        message: `nonce too low: address ${senderChecksum}, tx: ${nonce - 1n} state: ${nonce}`,
      });
      expect((await run({ nonce: q(nonce + 1n), ...fees })).error).toEqual({
        code: -38011,
        message: `nonce too high: address ${senderChecksum}, tx: ${nonce + 1n} state: ${nonce}`,
      });
      expect((await run({})).error).toEqual({
        code: -38012,
        message: `max fee per gas less than block base fee: address ${senderChecksum}, maxFeePerGas: 0, baseFee: ${baseFee}`,
      });
      const poor = "0x0000000000000000000000000000000000000bad";
      expect((await run({ from: poor, ...fees })).error).toEqual({
        code: -38014,
        message: `insufficient funds for gas * price + value: address ${toChecksumAddress(poor)} have 0 want ${21_000n * baseFee * 2n}`,
      });
      expect((await run({ gas: "0x4e20", ...fees })).error).toEqual({
        code: -38013,
        message: "intrinsic gas too low: have 20000, want 21000",
      });
      const limit = BigInt(head.gasLimit);
      expect((await run({ gas: q(limit + 1n), ...fees })).error).toEqual({
        code: -38015,
        message: `block gas limit reached: remaining: ${limit}, required: ${limit + 1n}`,
      });
    });

    it("does not check nonces or fees without validation", async () => {
      const [block] = await simulateOk({
        blockStateCalls: [{ calls: [{ from: sender, to: SINK, nonce: "0x0", gas: "0x5208" }] }],
      });
      expect(block.calls[0].status).toBe("0x1");
      expect(block.baseFeePerGas).toBe("0x0");
      // The block gas limit still applies.
      const tooMuch = await simulate({
        blockStateCalls: [{ calls: [{ from: sender, to: SINK, gas: q(BigInt(head.gasLimit) + 1n) }] }],
      });
      expect(tooMuch.error?.code).toBe(-38015);
    });
  });

  it("rejects malformed requests with -32602", async () => {
    const notObject = await dev.rpc("eth_simulateV1", ["0x1", "latest"]);
    expect(notObject.error?.code).toBe(-32602);
    const badFlag = await simulate({ validation: "yes", blockStateCalls: [{}] });
    expect(badFlag.error).toEqual({
      code: -32602,
      message: "invalid argument 0: validation: expected boolean",
    });
    const badCall = await simulate({ blockStateCalls: [{ calls: [{ to: "0x1234" }] }] });
    expect(badCall.error?.code).toBe(-32602);
    expect(badCall.error?.message).toMatch(/^invalid argument 0: blockStateCalls\[0\]: calls\[0\]: to: /);
    const unknownBlock = await simulate({ blockStateCalls: [{}] }, "0xffffff");
    expect(unknownBlock.error).toEqual({ code: -32000, message: "header not found" });
  });
});
