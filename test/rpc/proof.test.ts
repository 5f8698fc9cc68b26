/**
 * eth_getProof against a real dev node: every proof returned is verified node by node against
 * the block's state root (accounts) and the account's storage root (slots), for a contract with
 * storage, an EOA, a missing account, a missing slot and an older block after the state moved
 * on; plus geth's key echoing and input errors.
 */
import { MerklePatriciaTrie, verifyMPTWithMerkleProof } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import {
  bytesToBigInt,
  bytesToHex,
  createAccountFromRLP,
  hexToBytes,
  KECCAK256_NULL_S,
  KECCAK256_RLP_S,
  setLengthLeft,
} from "@ethereumjs/util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256 } from "../../node/execution/crypto.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

interface StorageProof {
  key: string;
  value: string;
  proof: string[];
}
interface AccountProof {
  address: string;
  accountProof: string[];
  balance: string;
  codeHash: string;
  nonce: string;
  storageHash: string;
  storageProof: StorageProof[];
}
interface Block {
  number: string;
  stateRoot: string;
}

const ZERO_HASH = `0x${"00".repeat(32)}`;
const MISSING = "0x00000000000000000000000000000000deadbeef";
const slotWord = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

/** Init code that runs `prefix` (storage writes) and deploys `runtime`. */
function initCode(runtime: string, prefix: string): string {
  const len = runtime.length / 2;
  const offset = prefix.length / 2 + 12;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  // PUSH1 len PUSH1 offset PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN
  return `0x${prefix}60${hex(len)}60${hex(offset)}60003960${hex(len)}6000f3${runtime}`;
}

// PUSH1 0 CALLDATALOAD PUSH1 0 SSTORE: stores the first calldata word in slot 0.
const SETTER = "600035600055";
// slot 0 = 0x2a, slot 1 = 0x0102
const INITIAL_STORAGE = "602a600055610102600155";

const proofTrie = new MerklePatriciaTrie({ useKeyHashing: true });

/** Checks the account proof against `stateRoot` and returns the proven account (or null). */
async function verifyAccount(proof: AccountProof, stateRoot: string) {
  const value = await verifyMPTWithMerkleProof(
    proofTrie,
    hexToBytes(stateRoot as `0x${string}`),
    hexToBytes(proof.address as `0x${string}`),
    proof.accountProof.map((node) => hexToBytes(node as `0x${string}`)),
  );
  return value === null ? null : createAccountFromRLP(value);
}

/** Checks a storage proof against `storageHash` and returns the proven value. */
async function verifySlot(entry: StorageProof, slot: string, storageHash: string): Promise<bigint> {
  const value = await verifyMPTWithMerkleProof(
    proofTrie,
    hexToBytes(storageHash as `0x${string}`),
    hexToBytes(slot as `0x${string}`),
    entry.proof.map((node) => hexToBytes(node as `0x${string}`)),
  );
  return value === null ? 0n : bytesToBigInt(RLP.decode(value) as Uint8Array);
}

describe("eth_getProof", () => {
  let dev: DevNodeHandle;
  let sender: string;
  let contract: string;
  /** The block right after deployment (slot 0 = 0x2a) and the one after the update (0x99). */
  let before: Block;
  let after: Block;

  beforeAll(async () => {
    dev = await startDevNode({ automine: true });
    sender = dev.accounts[1].address.toLowerCase();
    const deploy = await dev.call<string>("eth_sendTransaction", [
      { from: sender, gas: "0x30d40", data: initCode(SETTER, INITIAL_STORAGE) },
    ]);
    const receipt = await dev.call<{ contractAddress: string; blockNumber: string }>(
      "eth_getTransactionReceipt",
      [deploy],
    );
    contract = receipt.contractAddress;
    before = await dev.call<Block>("eth_getBlockByNumber", [receipt.blockNumber, false]);
    const update = await dev.call<string>("eth_sendTransaction", [
      { from: sender, to: contract, gas: "0x186a0", data: slotWord(0x99) },
    ]);
    const updated = await dev.call<{ blockNumber: string; status: string }>("eth_getTransactionReceipt", [
      update,
    ]);
    expect(updated.status).toBe("0x1");
    after = await dev.call<Block>("eth_getBlockByNumber", [updated.blockNumber, false]);
  });
  afterAll(async () => {
    await dev.stop();
  });

  it("proves a contract account and its slots against the state and storage roots", async () => {
    const proof = await dev.call<AccountProof>("eth_getProof", [
      contract,
      [slotWord(0), "0x1", slotWord(7)],
      after.number,
    ]);
    expect(Object.keys(proof)).toEqual([
      "address",
      "accountProof",
      "balance",
      "codeHash",
      "nonce",
      "storageHash",
      "storageProof",
    ]);
    expect(proof.address).toBe(contract);
    expect(proof.balance).toBe("0x0");
    expect(proof.nonce).toBe("0x1"); // EIP-161: contracts start at nonce 1
    const code = await dev.call<string>("eth_getCode", [contract, after.number]);
    expect(code).toBe(`0x${SETTER}`);
    expect(proof.codeHash).toBe(bytesToHex(keccak256(hexToBytes(code as `0x${string}`))));

    const account = await verifyAccount(proof, after.stateRoot);
    expect(account).not.toBeNull();
    expect(account?.nonce).toBe(1n);
    expect(account?.balance).toBe(0n);
    expect(bytesToHex(account?.storageRoot ?? new Uint8Array())).toBe(proof.storageHash);
    expect(bytesToHex(account?.codeHash ?? new Uint8Array())).toBe(proof.codeHash);
    expect(proof.storageHash).not.toBe(KECCAK256_RLP_S);

    const [slot0, slot1, slot7] = proof.storageProof;
    // 32-byte keys are echoed as given, shorter ones as quantities.
    expect(slot0.key).toBe(slotWord(0));
    expect(slot0.value).toBe("0x99");
    expect(await verifySlot(slot0, slotWord(0), proof.storageHash)).toBe(0x99n);
    expect(slot1.key).toBe("0x1");
    expect(slot1.value).toBe("0x102");
    expect(await verifySlot(slot1, slotWord(1), proof.storageHash)).toBe(0x102n);
    // A slot never written: an exclusion proof (non-empty, proving absence) and value 0.
    expect(slot7.key).toBe(slotWord(7));
    expect(slot7.value).toBe("0x0");
    expect(slot7.proof.length).toBeGreaterThan(0);
    expect(await verifySlot(slot7, slotWord(7), proof.storageHash)).toBe(0n);
  });

  it("proves the older state at an older block", async () => {
    const old = await dev.call<AccountProof>("eth_getProof", [contract, ["0x0"], before.number]);
    const current = await dev.call<AccountProof>("eth_getProof", [contract, ["0x0"], "latest"]);
    expect(old.storageProof[0]).toMatchObject({ key: "0x0", value: "0x2a" });
    expect(current.storageProof[0]).toMatchObject({ key: "0x0", value: "0x99" });
    expect(old.storageHash).not.toBe(current.storageHash);
    expect(old.codeHash).toBe(current.codeHash);
    const account = await verifyAccount(old, before.stateRoot);
    expect(bytesToHex(account?.storageRoot ?? new Uint8Array())).toBe(old.storageHash);
    expect(await verifySlot(old.storageProof[0], slotWord(0), old.storageHash)).toBe(0x2an);
    // The old proof does not verify against the newer root.
    await expect(verifyAccount(old, after.stateRoot)).rejects.toThrow();
    // A block hash (EIP-1898) selects the same state.
    const byHash = await dev.call<AccountProof>("eth_getProof", [
      contract,
      ["0x0"],
      { blockHash: (await dev.call<{ hash: string }>("eth_getBlockByNumber", [before.number, false])).hash },
    ]);
    expect(byHash).toEqual(old);
  });

  it("proves an EOA: empty storage root, empty code hash, empty slot proofs", async () => {
    const proof = await dev.call<AccountProof>("eth_getProof", [sender, [slotWord(0)], after.number]);
    const balance = await dev.call<string>("eth_getBalance", [sender, after.number]);
    const nonce = await dev.call<string>("eth_getTransactionCount", [sender, after.number]);
    expect(proof.balance).toBe(balance);
    expect(proof.nonce).toBe(nonce);
    expect(nonce).toBe("0x2");
    expect(proof.codeHash).toBe(KECCAK256_NULL_S);
    expect(proof.storageHash).toBe(KECCAK256_RLP_S);
    expect(proof.storageProof).toEqual([{ key: slotWord(0), value: "0x0", proof: [] }]);
    const account = await verifyAccount(proof, after.stateRoot);
    expect(account?.balance).toBe(BigInt(balance));
    expect(account?.nonce).toBe(2n);
  });

  it("proves a missing account by exclusion, with geth's zero hashes", async () => {
    const proof = await dev.call<AccountProof>("eth_getProof", [MISSING, ["0x0", "5"], "latest"]);
    const head = await dev.call<Block>("eth_getBlockByNumber", ["latest", false]);
    expect(proof).toMatchObject({
      address: MISSING,
      balance: "0x0",
      nonce: "0x0",
      codeHash: ZERO_HASH,
      storageHash: ZERO_HASH,
      storageProof: [
        { key: "0x0", value: "0x0", proof: [] },
        { key: "0x5", value: "0x0", proof: [] },
      ],
    });
    expect(proof.accountProof.length).toBeGreaterThan(0);
    expect(await verifyAccount(proof, head.stateRoot)).toBeNull();
  });

  it("returns proof nodes as geth does: root first, no embedded nodes", async () => {
    const proof = await dev.call<AccountProof>("eth_getProof", [contract, [], "latest"]);
    const head = await dev.call<Block>("eth_getBlockByNumber", ["latest", false]);
    expect(bytesToHex(keccak256(hexToBytes(proof.accountProof[0] as `0x${string}`)))).toBe(head.stateRoot);
    for (const node of proof.accountProof.slice(1)) expect((node.length - 2) / 2).toBeGreaterThanOrEqual(32);
    expect(proof.storageProof).toEqual([]);
  });

  it("rejects bad storage keys and too many keys with geth's errors", async () => {
    const bad = await dev.rpc("eth_getProof", [contract, ["0xzz"], "latest"]);
    expect(bad.error).toEqual({ code: -32602, message: 'invalid hex in storage key: "0xzz"' });
    const long = `0x${"11".repeat(33)}`;
    const tooLong = await dev.rpc("eth_getProof", [contract, [long], "latest"]);
    expect(tooLong.error).toEqual({
      code: -32602,
      message: `storage key too long (want at most 32 bytes): "${long}"`,
    });
    const keys = Array.from({ length: 1025 }, (_, i) =>
      bytesToHex(setLengthLeft(Uint8Array.of(i & 0xff), 32)),
    );
    const many = await dev.rpc("eth_getProof", [contract, keys, "latest"]);
    expect(many.error).toEqual({
      code: -32602,
      message: "too many storage keys requested (max 1024, got 1025)",
    });
    const notArray = await dev.rpc("eth_getProof", [contract, "0x0", "latest"]);
    expect(notArray.error).toEqual({
      code: -32602,
      message: "invalid argument 1: json: cannot unmarshal string into Go value of type []string",
    });
    const notString = await dev.rpc("eth_getProof", [contract, [1], "latest"]);
    expect(notString.error).toEqual({
      code: -32602,
      message: "invalid argument 1: json: cannot unmarshal number into Go value of type string",
    });
    const future = await dev.rpc("eth_getProof", [contract, [], "0xffffff"]);
    expect(future.error).toEqual({ code: -32000, message: "header not found" });
  });
});
