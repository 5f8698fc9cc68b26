/**
 * The validator deposit contract on a real dev node: BLS-signed deposits through
 * eth_sendTransaction emit the exact DepositEvent, advance get_deposit_count/get_deposit_root
 * (checked against an SSZ deposit tree computed here), keep the oGPU in the contract and the
 * supply exact; invalid deposits revert with the contract's reasons. A block built by our
 * executor (Engine API driven by hand) carries the EIP-7685 deposit request, and another
 * execution layer re-executes and accepts it through ethereumjs' block runner.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretKey, Signature, verify } from "@chainsafe/blst";
import { DOMAIN_DEPOSIT } from "@lodestar/params";
import { computeDomain, computeSigningRoot } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import {
  bytesToHex,
  concatHex,
  decodeEventLog,
  decodeFunctionResult,
  encodeFunctionData,
  type Hex,
  hexToBytes,
  numberToHex,
  size,
} from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  devnetDefinition,
  MAX_SUPPLY_WEI,
  ONE_OGPU,
  resolveGenesis,
  TEST_MNEMONIC,
} from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import { ExecutionLayer } from "../../node/execution/index.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import {
  DEPOSIT_CONTRACT_ABI,
  DEPOSIT_CONTRACT_CODE,
  DEPOSIT_CONTRACT_INTERFACE_ID,
  DEPOSIT_EVENT_TOPIC,
  DEPOSIT_LOG_SIZE,
  DEPOSIT_TREE_DEPTH,
} from "../../precompiles/deposit/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const DEPOSIT = SYSTEM_CONTRACT_ADDRESSES.deposit;
const GWEI = 10n ** 9n;
const GENESIS_STAKE = 4n * 32n * ONE_OGPU; // devnet: 4 genesis validators × 32 oGPU
const ZERO32 = `0x${"00".repeat(32)}` as Hex;
const GENESIS_FORK_VERSION = new Uint8Array(4);

// ---------------------------------------------------------------------------------------------
// Deposits signed as a staking tool signs them, and the deposit tree computed independently.

interface SignedDeposit {
  pubkey: Hex;
  withdrawalCredentials: Hex;
  amountGwei: bigint;
  signature: Hex;
  /** SSZ hash tree root of the DepositData: the contract's leaf. */
  root: Hex;
}

/** A deposit for the validator key derived from `seed`, signed with the deposit domain. */
function signDeposit(seed: number, amountGwei: bigint, withdrawalAddress: Hex): SignedDeposit {
  const secretKey = SecretKey.fromKeygen(new Uint8Array(32).fill(seed));
  const publicKey = secretKey.toPublicKey();
  const withdrawalCredentials = hexToBytes(concatHex(["0x01", `0x${"00".repeat(11)}`, withdrawalAddress]));
  const message = { pubkey: publicKey.toBytes(), withdrawalCredentials, amount: Number(amountGwei) };
  const domain = computeDomain(DOMAIN_DEPOSIT, GENESIS_FORK_VERSION, hexToBytes(ZERO32));
  const signingRoot = computeSigningRoot(ssz.phase0.DepositMessage, message, domain);
  const signature = secretKey.sign(signingRoot).toBytes();
  expect(verify(signingRoot, publicKey, Signature.fromBytes(signature, true))).toBe(true);
  return {
    pubkey: bytesToHex(message.pubkey),
    withdrawalCredentials: bytesToHex(withdrawalCredentials),
    amountGwei,
    signature: bytesToHex(signature),
    root: bytesToHex(ssz.phase0.DepositData.hashTreeRoot({ ...message, signature })),
  };
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** `value` as 8 little-endian bytes. */
function le64(value: bigint): Hex {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return bytesToHex(out);
}

/** Root of the depth-32 sha256 Merkle tree of `leaves`, mixed in with their count (SSZ List[Root, 2**32]). */
function depositTreeRoot(leaves: readonly Hex[]): Hex {
  const zero: Uint8Array[] = [new Uint8Array(32)];
  for (let h = 1; h <= DEPOSIT_TREE_DEPTH; h++) zero.push(sha256(zero[h - 1], zero[h - 1]));
  let level = leaves.map((leaf) => hexToBytes(leaf));
  for (let h = 0; h < DEPOSIT_TREE_DEPTH; h++) {
    if (level.length % 2 === 1) level.push(zero[h]);
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256(level[i], level[i + 1]));
    level = next;
  }
  const root = level[0] ?? zero[DEPOSIT_TREE_DEPTH];
  const length = new Uint8Array(32);
  new DataView(length.buffer).setBigUint64(0, BigInt(leaves.length), true);
  const mixed = bytesToHex(sha256(root, length));
  // The same root as Lodestar's SSZ type for the deposit tree.
  expect(mixed).toBe(
    bytesToHex(ssz.phase0.DepositDataRootList.hashTreeRoot(leaves.map((l) => hexToBytes(l)))),
  );
  return mixed;
}

function depositCalldata(d: SignedDeposit, overrides: Partial<Record<keyof SignedDeposit, Hex>> = {}): Hex {
  return encodeFunctionData({
    abi: DEPOSIT_CONTRACT_ABI,
    functionName: "deposit",
    args: [
      overrides.pubkey ?? d.pubkey,
      overrides.withdrawalCredentials ?? d.withdrawalCredentials,
      overrides.signature ?? d.signature,
      overrides.root ?? d.root,
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the contract over JSON-RPC.

interface Receipt {
  status: Hex;
  blockNumber: Hex;
  logs: { address: Hex; topics: [Hex, ...Hex[]]; data: Hex; logIndex: Hex }[];
}

async function depositCount(dev: DevNodeHandle): Promise<bigint> {
  const out = await dev.call<Hex>("eth_call", [
    {
      to: DEPOSIT,
      data: encodeFunctionData({ abi: DEPOSIT_CONTRACT_ABI, functionName: "get_deposit_count" }),
    },
    "latest",
  ]);
  const bytes = decodeFunctionResult({
    abi: DEPOSIT_CONTRACT_ABI,
    functionName: "get_deposit_count",
    data: out,
  });
  expect(size(bytes)).toBe(8);
  return new DataView(hexToBytes(bytes).buffer).getBigUint64(0, true);
}

async function depositRoot(dev: DevNodeHandle): Promise<Hex> {
  return dev.call<Hex>("eth_call", [
    {
      to: DEPOSIT,
      data: encodeFunctionData({ abi: DEPOSIT_CONTRACT_ABI, functionName: "get_deposit_root" }),
    },
    "latest",
  ]);
}

async function balance(
  dev: DevNodeHandle,
  address: string,
  block: Hex | "latest" = "latest",
): Promise<bigint> {
  return BigInt(await dev.call<Hex>("eth_getBalance", [address, block]));
}

async function sendDeposit(dev: DevNodeHandle, data: Hex, value: bigint, gas?: bigint): Promise<Receipt> {
  const hash = await dev.call<Hex>("eth_sendTransaction", [
    {
      from: dev.accounts[1].address,
      to: DEPOSIT,
      data,
      value: numberToHex(value),
      ...(gas !== undefined ? { gas: numberToHex(gas) } : {}),
    },
  ]);
  const receipt = await dev.call<Receipt | null>("eth_getTransactionReceipt", [hash]);
  if (receipt === null) throw new Error(`deposit ${hash} was not mined`);
  return receipt;
}

// ---------------------------------------------------------------------------------------------

describe("deposit contract on the dev chain (automine)", () => {
  let dev: DevNodeHandle;
  let genesis: GethGenesis;
  const leaves: Hex[] = [];

  beforeAll(async () => {
    genesis = resolveGenesis(
      devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 4, balance: "10000" } }),
      { now: Math.floor(Date.now() / 1000) - 10 },
    );
    dev = await startDevNode({ genesis, accounts: 4, automine: true });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it("is deployed at genesis with the genesis validators' stake, an empty tree and both ERC-165 ids", async () => {
    expect(await dev.call("eth_getCode", [DEPOSIT, "latest"])).toBe(DEPOSIT_CONTRACT_CODE);
    expect(await balance(dev, DEPOSIT)).toBe(GENESIS_STAKE);
    expect(await depositCount(dev)).toBe(0n);
    expect(await depositRoot(dev)).toBe(depositTreeRoot([]));
    const supports = async (id: Hex) =>
      decodeFunctionResult({
        abi: DEPOSIT_CONTRACT_ABI,
        functionName: "supportsInterface",
        data: await dev.call<Hex>("eth_call", [
          {
            to: DEPOSIT,
            data: encodeFunctionData({
              abi: DEPOSIT_CONTRACT_ABI,
              functionName: "supportsInterface",
              args: [id],
            }),
          },
          "latest",
        ]),
      });
    expect(await supports("0x01ffc9a7")).toBe(true);
    expect(await supports(DEPOSIT_CONTRACT_INTERFACE_ID)).toBe(true);
    expect(await supports("0xffffffff")).toBe(false);
  });

  it("accepts BLS-signed deposits: exact DepositEvent, count and root advance, oGPU stays in the contract", async () => {
    const withdrawal = dev.accounts[2].address as Hex;
    const deposits = [
      signDeposit(11, 32n * GWEI, withdrawal), // 32 oGPU
      signDeposit(12, 1n * GWEI, withdrawal), // the 1 oGPU minimum
      signDeposit(13, 2048_123456789n, withdrawal), // 2048.123456789 oGPU, not a whole oGPU
    ];
    let expectedBalance = GENESIS_STAKE;
    for (const [index, d] of deposits.entries()) {
      const value = d.amountGwei * GWEI;
      const senderBefore = await balance(dev, dev.accounts[1].address);
      const receipt = await sendDeposit(dev, depositCalldata(d), value);
      expect(receipt.status).toBe("0x1");
      expect(receipt.logs).toHaveLength(1);
      const [log] = receipt.logs;
      expect(log.address).toBe(DEPOSIT);
      expect(log.topics).toEqual([DEPOSIT_EVENT_TOPIC]);
      expect(size(log.data)).toBe(DEPOSIT_LOG_SIZE);
      const event = decodeEventLog({ abi: DEPOSIT_CONTRACT_ABI, data: log.data, topics: log.topics });
      expect(event.eventName).toBe("DepositEvent");
      expect(event.args).toEqual({
        pubkey: d.pubkey,
        withdrawal_credentials: d.withdrawalCredentials,
        amount: le64(d.amountGwei),
        signature: d.signature,
        index: le64(BigInt(index)),
      });

      leaves.push(d.root);
      expect(await depositCount(dev)).toBe(BigInt(leaves.length));
      expect(await depositRoot(dev)).toBe(depositTreeRoot(leaves));
      expectedBalance += value;
      expect(await balance(dev, DEPOSIT)).toBe(expectedBalance);
      // The sender paid the value and the gas.
      expect(await balance(dev, dev.accounts[1].address)).toBeLessThan(senderBefore - value);
    }
    // The withdrawal address got nothing: stake is locked in the contract.
    expect(await balance(dev, withdrawal)).toBe(10_000n * ONE_OGPU);
  });

  it("refuses invalid deposits with the contract's revert reasons", async () => {
    const d = signDeposit(21, 32n * GWEI, dev.accounts[2].address as Hex);
    const cases: [label: string, data: Hex, value: bigint, reason: string][] = [
      [
        "47-byte pubkey",
        depositCalldata(d, { pubkey: `0x${d.pubkey.slice(4)}` }),
        32n * ONE_OGPU,
        "invalid pubkey length",
      ],
      [
        "33-byte credentials",
        depositCalldata(d, { withdrawalCredentials: `${d.withdrawalCredentials}00` }),
        32n * ONE_OGPU,
        "invalid withdrawal_credentials length",
      ],
      [
        "95-byte signature",
        depositCalldata(d, { signature: `0x${d.signature.slice(4)}` }),
        32n * ONE_OGPU,
        "invalid signature length",
      ],
      ["0.5 oGPU", depositCalldata(d), ONE_OGPU / 2n, "deposit value too low"],
      ["nothing", depositCalldata(d), 0n, "deposit value too low"],
      ["32 oGPU + 1 wei", depositCalldata(d), 32n * ONE_OGPU + 1n, "deposit value not multiple of gwei"],
      [
        "31 oGPU (the signed amount is 32)",
        depositCalldata(d),
        31n * ONE_OGPU,
        "reconstructed DepositData does not match supplied deposit_data_root",
      ],
      [
        "a wrong root",
        depositCalldata(d, { root: `0x${"11".repeat(32)}` }),
        32n * ONE_OGPU,
        "reconstructed DepositData does not match supplied deposit_data_root",
      ],
    ];
    for (const [label, data, value, reason] of cases) {
      const response = await dev.rpc("eth_sendTransaction", [
        { from: dev.accounts[1].address, to: DEPOSIT, data, value: numberToHex(value) },
      ]);
      expect(response.error, label).toMatchObject({
        code: 3,
        message: `execution reverted: DepositContract: ${reason}`,
      });
    }

    // More than 2**64 - 1 Gwei, only reachable with an overridden balance.
    const tooMuch = 2n ** 64n * GWEI;
    const call = await dev.rpc("eth_call", [
      { from: dev.accounts[1].address, to: DEPOSIT, data: depositCalldata(d), value: numberToHex(tooMuch) },
      "latest",
      { [dev.accounts[1].address]: { balance: numberToHex(tooMuch * 2n) } },
    ]);
    expect(call.error).toMatchObject({
      code: 3,
      message: "execution reverted: DepositContract: deposit value too high",
    });

    // Plain transfers are refused (no receive function).
    const transfer = await dev.rpc("eth_call", [
      { from: dev.accounts[1].address, to: DEPOSIT, value: numberToHex(ONE_OGPU) },
      "latest",
    ]);
    expect(transfer.error?.code).toBe(3);

    // Mined anyway (explicit gas): the transaction fails, nothing is deposited, the reason is traced.
    const countBefore = await depositCount(dev);
    const contractBefore = await balance(dev, DEPOSIT);
    const failed = await sendDeposit(
      dev,
      depositCalldata(d, { root: `0x${"11".repeat(32)}` }),
      32n * ONE_OGPU,
      200_000n,
    );
    expect(failed.status).toBe("0x0");
    expect(failed.logs).toEqual([]);
    expect(await depositCount(dev)).toBe(countBefore);
    expect(await balance(dev, DEPOSIT)).toBe(contractBefore);
    const block = await dev.call<{ transactions: Hex[] }>("eth_getBlockByNumber", [
      failed.blockNumber,
      false,
    ]);
    const trace = await dev.call<{ error?: string; revertReason?: string }>("debug_traceTransaction", [
      block.transactions[0],
      { tracer: "callTracer" },
    ]);
    expect(trace.error).toBe("execution reverted");
    expect(trace.revertReason).toBe(
      "DepositContract: reconstructed DepositData does not match supplied deposit_data_root",
    );
  });

  it("keeps the supply exact: all balances, the contract's included, are 21,000,000 oGPU minus burned base fees", async () => {
    const head = BigInt(await dev.call<Hex>("eth_blockNumber"));
    expect(head).toBeGreaterThan(3n);
    let burned = 0n;
    for (let n = 1n; n <= head; n++) {
      const block = await dev.call<{ baseFeePerGas: Hex; gasUsed: Hex }>("eth_getBlockByNumber", [
        numberToHex(n),
        false,
      ]);
      burned += BigInt(block.baseFeePerGas) * BigInt(block.gasUsed);
    }
    expect(burned).toBeGreaterThan(0n);
    // Every account that can hold oGPU here is a genesis account (senders, fee recipient, contract).
    let total = 0n;
    for (const address of Object.keys(genesis.alloc)) total += await balance(dev, address, numberToHex(head));
    expect(total).toBe(MAX_SUPPLY_WEI - burned);
    expect(await balance(dev, DEPOSIT, numberToHex(head))).toBe(
      GENESIS_STAKE + (32n + 1n + 2048n) * ONE_OGPU + 123456789n * GWEI,
    );
  });
});

describe("deposit requests in blocks built by the executor (Engine API driven by hand)", () => {
  let dev: DevNodeHandle;
  let follower: ExecutionLayer;
  let followerDir: string;

  beforeAll(async () => {
    const genesis = resolveGenesis(
      devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 4, balance: "10000" } }),
      { now: Math.floor(Date.now() / 1000) - 10 },
    );
    // No automine and an hour between dev blocks: this test produces every block itself.
    dev = await startDevNode({ genesis, accounts: 4, automine: false, blockTime: 3600 });
    followerDir = mkdtempSync(join(tmpdir(), "opengpu-deposit-follower-"));
    follower = await ExecutionLayer.open({ datadir: followerDir, genesis }, { logger: silentLogger() });
  });
  afterAll(async () => {
    await dev?.stop();
    await follower?.close();
    if (followerDir !== undefined) rmSync(followerDir, { recursive: true, force: true });
  });

  it("puts the deposit request in executionRequests and requestsHash; another node re-executes the block", async () => {
    const d = signDeposit(31, 32n * GWEI, dev.accounts[3].address as Hex);
    const txHash = await dev.call<Hex>("eth_sendTransaction", [
      {
        from: dev.accounts[1].address,
        to: DEPOSIT,
        data: depositCalldata(d),
        value: numberToHex(32n * ONE_OGPU),
      },
    ]);
    const engine = dev.node.el.engine;
    const head = dev.node.el.chain.head;
    const parent = bytesToHex(head.hash());
    const fcu = await engine.forkchoiceUpdatedV3(
      { headBlockHash: parent, safeBlockHash: parent, finalizedBlockHash: parent },
      {
        timestamp: numberToHex(head.header.timestamp + 12n),
        prevRandao: `0x${"5a".repeat(32)}`,
        suggestedFeeRecipient: dev.accounts[0].address as Hex,
        withdrawals: [],
        parentBeaconBlockRoot: ZERO32,
      },
    );
    expect(fcu.payloadStatus.status).toBe("VALID");
    if (fcu.payloadId === null) throw new Error("no payload id");
    const { executionPayload, executionRequests } = await engine.getPayloadV4(fcu.payloadId);
    expect(executionPayload.transactions).toHaveLength(1);

    // EIP-7685: one deposit request (type 0x00): pubkey ‖ credentials ‖ amount ‖ signature ‖ index.
    const request = concatHex([
      "0x00",
      d.pubkey,
      d.withdrawalCredentials,
      le64(d.amountGwei),
      d.signature,
      le64(0n),
    ]);
    expect(size(request)).toBe(1 + 48 + 32 + 8 + 96 + 8);
    expect(executionRequests).toEqual([request]);
    // The same bytes through Lodestar's DepositRequest SSZ type.
    expect(
      bytesToHex(
        ssz.electra.DepositRequest.serialize({
          pubkey: hexToBytes(d.pubkey),
          withdrawalCredentials: hexToBytes(d.withdrawalCredentials),
          amount: Number(d.amountGwei),
          signature: hexToBytes(d.signature),
          index: 0n,
        }),
      ),
    ).toBe(`0x${request.slice(4)}`);

    for (const el of [dev.node.el, follower]) {
      const status = await el.engine.newPayloadV4(executionPayload, [], ZERO32, executionRequests);
      expect(status).toEqual({
        status: "VALID",
        latestValidHash: executionPayload.blockHash,
        validationError: null,
      });
      const hash = executionPayload.blockHash;
      await el.engine.forkchoiceUpdatedV3(
        { headBlockHash: hash, safeBlockHash: hash, finalizedBlockHash: hash },
        null,
      );
    }

    const block = await dev.call<{ requestsHash: Hex; hash: Hex }>("eth_getBlockByNumber", ["latest", false]);
    expect(block.hash).toBe(executionPayload.blockHash);
    expect(block.requestsHash).toBe(bytesToHex(sha256(sha256(hexToBytes(request)))));
    const receipt = await dev.call<Receipt>("eth_getTransactionReceipt", [txHash]);
    expect(receipt.status).toBe("0x1");
    expect(await balance(dev, DEPOSIT)).toBe(GENESIS_STAKE + 32n * ONE_OGPU);
    expect(bytesToHex(follower.chain.head.header.stateRoot)).toBe(executionPayload.stateRoot);
  });
});
