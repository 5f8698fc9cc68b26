import { createHash } from "node:crypto";
import { PublicKey, Signature, verify } from "@chainsafe/blst";
import { describe, expect, it } from "vitest";
import {
  blsWithdrawalCredentials,
  checkDepositData,
  type DepositDataJson,
  depositDataFileName,
  depositDataForKeys,
  executionWithdrawalCredentials,
  parseDepositAmount,
  parseForkVersion,
} from "./deposit-data.ts";
import { deriveSecretKey, mnemonicToSeed, signingKeyPath, withdrawalKeyPath } from "./derivation.ts";
import { KeysErrorCode } from "./errors.ts";

const MNEMONIC = "test test test test test test test test test test test junk";
const SEED = mnemonicToSeed(MNEMONIC);
const KEYS = [0, 1].map((i) => ({
  path: signingKeyPath(i),
  secretKey: deriveSecretKey(SEED, signingKeyPath(i)),
}));
const FORK = parseForkVersion("0x4f470000");
const ADDRESS = "0x00000000219ab540356cBB839Cbe05303d7705Fa";

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const zeros = (n: number): Uint8Array => new Uint8Array(n);
const bytes = (hex: string): Buffer => Buffer.from(hex, "hex");
const le64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** hash_tree_root(DepositMessage), merkleized by hand (pubkey, credentials, amount, pad). */
function messageRoot(d: DepositDataJson): Buffer {
  const pubkeyRoot = sha256(bytes(d.pubkey), zeros(16));
  return sha256(
    sha256(pubkeyRoot, bytes(d.withdrawal_credentials)),
    sha256(le64(d.amount), zeros(24), zeros(32)),
  );
}

/** hash_tree_root(DepositData), exactly as the deposit contract computes it. */
function dataRoot(d: DepositDataJson): Buffer {
  const sig = bytes(d.signature);
  const pubkeyRoot = sha256(bytes(d.pubkey), zeros(16));
  const signatureRoot = sha256(sha256(sig.subarray(0, 64)), sha256(sig.subarray(64), zeros(32)));
  return sha256(
    sha256(pubkeyRoot, bytes(d.withdrawal_credentials)),
    sha256(le64(d.amount), zeros(24), signatureRoot),
  );
}

/** compute_signing_root(DepositMessage, compute_domain(DOMAIN_DEPOSIT, fork, ZERO_HASH)), by hand. */
function signingRoot(d: DepositDataJson, forkVersion: Uint8Array): Buffer {
  const forkDataRoot = sha256(Buffer.concat([forkVersion, zeros(28)]), zeros(32));
  const domain = Buffer.concat([Uint8Array.of(3, 0, 0, 0), forkDataRoot.subarray(0, 28)]);
  return sha256(messageRoot(d), domain);
}

function verifies(d: DepositDataJson, forkVersion: Uint8Array): boolean {
  return verify(
    signingRoot(d, forkVersion),
    PublicKey.fromBytes(bytes(d.pubkey), true),
    Signature.fromBytes(bytes(d.signature), true),
  );
}

describe("withdrawal credentials", () => {
  it("0x01 / 0x02: prefix, 11 zero bytes, the address", () => {
    expect(Buffer.from(executionWithdrawalCredentials(ADDRESS)).toString("hex")).toBe(
      `01${"00".repeat(11)}00000000219ab540356cbb839cbe05303d7705fa`,
    );
    expect(Buffer.from(executionWithdrawalCredentials(ADDRESS, true)).toString("hex")).toBe(
      `02${"00".repeat(11)}00000000219ab540356cbb839cbe05303d7705fa`,
    );
    expect(() => executionWithdrawalCredentials("0x1234")).toThrow(
      expect.objectContaining({ code: KeysErrorCode.INVALID_DEPOSIT }),
    );
  });

  it("0x00: the BLS prefix and SHA-256 of the withdrawal pubkey", () => {
    const pubkey = deriveSecretKey(SEED, withdrawalKeyPath(0)).toPublicKey().toBytes();
    const expected = sha256(pubkey);
    expected[0] = 0;
    expect(Buffer.from(blsWithdrawalCredentials(pubkey)).toString("hex")).toBe(expected.toString("hex"));
  });
});

describe("deposit data", () => {
  it("signs DepositMessages with the deposit domain and fills both roots (0x01)", () => {
    const entries = depositDataForKeys(KEYS, {
      amount: "32",
      genesisForkVersion: FORK,
      networkName: "opengpu-devnet",
      withdrawalAddress: ADDRESS,
    });
    expect(entries.length).toBe(2);
    entries.forEach((d, i) => {
      expect(d.pubkey).toBe(KEYS[i].secretKey.toPublicKey().toHex().slice(2));
      expect(d.withdrawal_credentials).toBe(`01${"00".repeat(11)}00000000219ab540356cbb839cbe05303d7705fa`);
      expect(d.amount).toBe(32_000_000_000);
      expect(d.fork_version).toBe("4f470000");
      expect(d.network_name).toBe("opengpu-devnet");
      expect(d.signature).toMatch(/^[0-9a-f]{192}$/);
      expect(d.deposit_message_root).toBe(messageRoot(d).toString("hex"));
      expect(d.deposit_data_root).toBe(dataRoot(d).toString("hex"));
      expect(verifies(d, FORK)).toBe(true);
      // Another network's fork version gives another domain: the signature is not valid there.
      expect(verifies(d, parseForkVersion("0x00000000"))).toBe(false);
      expect(checkDepositData(d, FORK)).toBeUndefined();
    });
    expect(entries[0].pubkey).not.toBe(entries[1].pubkey);
  });

  it("derives 0x00 credentials from the mnemonic's withdrawal keys", () => {
    const [d] = depositDataForKeys([KEYS[1]], {
      amount: "1",
      genesisForkVersion: FORK,
      networkName: "opengpu-devnet",
      mnemonic: MNEMONIC,
    });
    const withdrawalPubkey = deriveSecretKey(SEED, withdrawalKeyPath(1)).toPublicKey().toBytes();
    expect(d.withdrawal_credentials).toBe(
      Buffer.from(blsWithdrawalCredentials(withdrawalPubkey)).toString("hex"),
    );
    expect(d.withdrawal_credentials.slice(0, 2)).toBe("00");
    expect(d.amount).toBe(1_000_000_000);
    expect(verifies(d, FORK)).toBe(true);
    expect(d.deposit_data_root).toBe(dataRoot(d).toString("hex"));
  });

  it("allows up to 2048 oGPU with compounding (0x02) credentials", () => {
    const [d] = depositDataForKeys([KEYS[0]], {
      amount: "2048",
      genesisForkVersion: FORK,
      networkName: "n",
      withdrawalAddress: ADDRESS,
      compounding: true,
    });
    expect(d.withdrawal_credentials.slice(0, 2)).toBe("02");
    expect(d.amount).toBe(2_048_000_000_000);
    expect(verifies(d, FORK)).toBe(true);
  });

  it("reports tampered entries", () => {
    const [d] = depositDataForKeys([KEYS[0]], {
      amount: "32",
      genesisForkVersion: FORK,
      networkName: "n",
      withdrawalAddress: ADDRESS,
    });
    expect(checkDepositData({ ...d, amount: 31_000_000_000 }, FORK)).toBe("deposit_message_root is wrong");
    expect(checkDepositData({ ...d, deposit_data_root: "00".repeat(32) }, FORK)).toBe(
      "deposit_data_root is wrong",
    );
    expect(checkDepositData(d, parseForkVersion("0x4f470100"))).toBe("fork_version 4f470000 is not 4f470100");
    const [other] = depositDataForKeys([KEYS[1]], {
      amount: "32",
      genesisForkVersion: FORK,
      networkName: "n",
      withdrawalAddress: ADDRESS,
    });
    expect(
      checkDepositData(
        {
          ...d,
          signature: other.signature,
          deposit_data_root: dataRoot({ ...d, signature: other.signature }).toString("hex"),
        },
        FORK,
      ),
    ).toBe("signature does not verify");
  });

  it.each([
    ["below 1 oGPU", { amount: "0.5", withdrawalAddress: ADDRESS }, KeysErrorCode.INVALID_DEPOSIT],
    ["above 32 oGPU for 0x01", { amount: "33", withdrawalAddress: ADDRESS }, KeysErrorCode.INVALID_DEPOSIT],
    [
      "above 2048 oGPU for 0x02",
      { amount: "2049", withdrawalAddress: ADDRESS, compounding: true },
      KeysErrorCode.INVALID_DEPOSIT,
    ],
    [
      "a fraction of a Gwei",
      { amount: "1.0000000001", withdrawalAddress: ADDRESS },
      KeysErrorCode.INVALID_DEPOSIT,
    ],
    ["not a number", { amount: "lots", withdrawalAddress: ADDRESS }, KeysErrorCode.INVALID_DEPOSIT],
    ["compounding without an address", { amount: "32", compounding: true }, KeysErrorCode.INVALID_DEPOSIT],
    ["BLS credentials without the mnemonic", { amount: "32" }, KeysErrorCode.NO_WITHDRAWAL_KEY],
    [
      "BLS credentials with another mnemonic",
      {
        amount: "32",
        mnemonic:
          "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
      },
      KeysErrorCode.NO_WITHDRAWAL_KEY,
    ],
  ])("refuses %s", (_name, opts, code) => {
    expect(() => depositDataForKeys(KEYS, { genesisForkVersion: FORK, networkName: "n", ...opts })).toThrow(
      expect.objectContaining({ code }),
    );
  });

  it("parses amounts, fork versions and names files", () => {
    expect(parseDepositAmount("32", "execution")).toBe(32_000_000_000n);
    expect(parseDepositAmount("1.5", "bls")).toBe(1_500_000_000n);
    expect(Array.from(parseForkVersion("0x4f470005"))).toEqual([0x4f, 0x47, 0, 5]);
    expect(() => parseForkVersion("0x4f47")).toThrow(
      expect.objectContaining({ code: KeysErrorCode.INVALID_DEPOSIT }),
    );
    expect(depositDataFileName(1700000000)).toBe("deposit_data-1700000000.json");
  });
});
