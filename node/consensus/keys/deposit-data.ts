/**
 * Deposit data: the `deposit_data-<unix seconds>.json` entries the Ethereum staking-deposit-cli
 * writes, for OpenGPU's deposit contract (EIP-6110 deposits are read from its logs).
 *
 * Each entry holds the validator pubkey, its withdrawal credentials (0x00 + SHA-256 of a BLS
 * withdrawal key, or 0x01 / 0x02 (compounding) + 11 zero bytes + an execution address), the
 * amount in Gwei, the BLS signature over the `DepositMessage` with the deposit domain
 * `compute_domain(DOMAIN_DEPOSIT, genesis_fork_version, ZERO_HASH)` (deposits are valid across
 * forks, so only the genesis fork version enters), and the `DepositMessage` / `DepositData`
 * hash-tree roots the deposit contract checks. Hex fields carry no 0x prefix, as in the
 * staking-deposit-cli's files.
 */
import { createHash } from "node:crypto";
import { PublicKey, type SecretKey, Signature, verify } from "@chainsafe/blst";
import {
  BLS_WITHDRAWAL_PREFIX,
  COMPOUNDING_WITHDRAWAL_PREFIX,
  DOMAIN_DEPOSIT,
  ETH1_ADDRESS_WITHDRAWAL_PREFIX,
  MAX_EFFECTIVE_BALANCE_ELECTRA,
  MIN_ACTIVATION_BALANCE,
  MIN_DEPOSIT_AMOUNT,
} from "@lodestar/params";
import { computeDomain, computeSigningRoot, ZERO_HASH } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import { parseOgpu } from "../../../genesis/token.ts";
import { errorMessage } from "../../utils/errors.ts";
import { VERSION } from "../../version.ts";
import {
  deriveSecretKey,
  mnemonicToSeed,
  validatorIndexOfSigningPath,
  withdrawalKeyPath,
} from "./derivation.ts";
import { KeysError, KeysErrorCode } from "./errors.ts";

/** One entry of a deposit_data file (the staking-deposit-cli format). */
export interface DepositDataJson {
  pubkey: string;
  withdrawal_credentials: string;
  /** Gwei. */
  amount: number;
  signature: string;
  deposit_message_root: string;
  deposit_data_root: string;
  fork_version: string;
  network_name: string;
  /** Version of the tool that wrote the file (here: the OpenGPU node's version). */
  deposit_cli_version: string;
}

export type WithdrawalKind = "bls" | "execution" | "compounding";

export interface DepositParams {
  /** 32 bytes: see `blsWithdrawalCredentials` / `executionWithdrawalCredentials`. */
  withdrawalCredentials: Uint8Array;
  /** Deposit amount in Gwei. */
  amountGwei: bigint;
  /** The network's GENESIS_FORK_VERSION (4 bytes). */
  genesisForkVersion: Uint8Array;
  /** Network name written into the file (informational). */
  networkName: string;
}

const GWEI_PER_OGPU = 1_000_000_000n;
const WEI_PER_GWEI = 1_000_000_000n;

/** 0x00 credentials: the BLS prefix and the last 31 bytes of SHA-256(withdrawal pubkey). */
export function blsWithdrawalCredentials(withdrawalPubkey: Uint8Array): Uint8Array {
  const out = createHash("sha256").update(withdrawalPubkey).digest();
  out[0] = BLS_WITHDRAWAL_PREFIX;
  return new Uint8Array(out);
}

/** 0x01 (or with `compounding`, 0x02) credentials: prefix, 11 zero bytes, the 20-byte address. */
export function executionWithdrawalCredentials(address: string, compounding = false): Uint8Array {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw new KeysError(
      KeysErrorCode.INVALID_DEPOSIT,
      `withdrawal address ${address} is not a 0x-prefixed 20-byte address`,
    );
  }
  const out = new Uint8Array(32);
  out[0] = compounding ? COMPOUNDING_WITHDRAWAL_PREFIX : ETH1_ADDRESS_WITHDRAWAL_PREFIX;
  out.set(Buffer.from(address.slice(2), "hex"), 12);
  return out;
}

/** Parses a 4-byte fork version given as 0x-prefixed hex ("0x4f470000"). */
export function parseForkVersion(text: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]{8}$/.test(text)) {
    throw new KeysError(
      KeysErrorCode.INVALID_DEPOSIT,
      `fork version ${text} is not 4 bytes of 0x-prefixed hex`,
    );
  }
  return new Uint8Array(Buffer.from(text.slice(2), "hex"));
}

/**
 * Parses a deposit amount in oGPU into Gwei and checks it: at least 1 oGPU, a whole number of
 * Gwei, and at most 32 oGPU (MIN_ACTIVATION_BALANCE) for 0x00/0x01 credentials or 2048 oGPU
 * (MAX_EFFECTIVE_BALANCE_ELECTRA) for compounding 0x02 credentials.
 */
export function parseDepositAmount(ogpu: string, kind: WithdrawalKind): bigint {
  let wei: bigint;
  try {
    wei = parseOgpu(ogpu);
  } catch (err) {
    throw new KeysError(KeysErrorCode.INVALID_DEPOSIT, errorMessage(err));
  }
  if (wei % WEI_PER_GWEI !== 0n) {
    throw new KeysError(
      KeysErrorCode.INVALID_DEPOSIT,
      `deposit amount ${ogpu} oGPU is not a whole number of Gwei`,
    );
  }
  const gwei = wei / WEI_PER_GWEI;
  const max = BigInt(kind === "compounding" ? MAX_EFFECTIVE_BALANCE_ELECTRA : MIN_ACTIVATION_BALANCE);
  const min = BigInt(MIN_DEPOSIT_AMOUNT);
  if (gwei < min || gwei > max) {
    throw new KeysError(
      KeysErrorCode.INVALID_DEPOSIT,
      `deposit amount ${ogpu} oGPU is outside ${min / GWEI_PER_OGPU}..${max / GWEI_PER_OGPU} oGPU for ${kind === "compounding" ? "compounding (0x02)" : kind === "bls" ? "BLS (0x00)" : "execution (0x01)"} withdrawal credentials`,
    );
  }
  return gwei;
}

/** The deposit signing domain: compute_domain(DOMAIN_DEPOSIT, genesisForkVersion, ZERO_HASH). */
export function depositDomain(genesisForkVersion: Uint8Array): Uint8Array {
  if (genesisForkVersion.length !== 4)
    throw new KeysError(KeysErrorCode.INVALID_DEPOSIT, "fork version must be 4 bytes");
  return computeDomain(DOMAIN_DEPOSIT, genesisForkVersion, ZERO_HASH);
}

/** Signs a deposit for `secretKey` and returns its deposit_data entry. */
export function buildDepositData(secretKey: SecretKey, params: DepositParams): DepositDataJson {
  if (params.withdrawalCredentials.length !== 32)
    throw new KeysError(KeysErrorCode.INVALID_DEPOSIT, "withdrawal credentials must be 32 bytes");
  if (params.networkName.length === 0)
    throw new KeysError(KeysErrorCode.INVALID_DEPOSIT, "network name is empty");
  const pubkey = secretKey.toPublicKey().toBytes();
  const message = {
    pubkey,
    withdrawalCredentials: params.withdrawalCredentials,
    amount: Number(params.amountGwei),
  };
  const signingRoot = computeSigningRoot(
    ssz.phase0.DepositMessage,
    message,
    depositDomain(params.genesisForkVersion),
  );
  const signature = secretKey.sign(signingRoot).toBytes();
  const depositData = { ...message, signature };
  return {
    pubkey: hex(pubkey),
    withdrawal_credentials: hex(params.withdrawalCredentials),
    amount: message.amount,
    signature: hex(signature),
    deposit_message_root: hex(ssz.phase0.DepositMessage.hashTreeRoot(message)),
    deposit_data_root: hex(ssz.phase0.DepositData.hashTreeRoot(depositData)),
    fork_version: hex(params.genesisForkVersion),
    network_name: params.networkName,
    deposit_cli_version: VERSION,
  };
}

/**
 * Checks a deposit_data entry against the network's genesis fork version: the signature is a
 * valid BLS signature of the entry's pubkey over its DepositMessage, and both roots are the
 * hash-tree roots of its fields. Returns a reason for the first failure, or undefined if valid.
 */
export function checkDepositData(entry: DepositDataJson, genesisForkVersion: Uint8Array): string | undefined {
  try {
    if (entry.fork_version !== hex(genesisForkVersion))
      return `fork_version ${entry.fork_version} is not ${hex(genesisForkVersion)}`;
    const message = {
      pubkey: unhex(entry.pubkey, 48),
      withdrawalCredentials: unhex(entry.withdrawal_credentials, 32),
      amount: entry.amount,
    };
    const signature = unhex(entry.signature, 96);
    if (hex(ssz.phase0.DepositMessage.hashTreeRoot(message)) !== entry.deposit_message_root)
      return "deposit_message_root is wrong";
    if (hex(ssz.phase0.DepositData.hashTreeRoot({ ...message, signature })) !== entry.deposit_data_root)
      return "deposit_data_root is wrong";
    const signingRoot = computeSigningRoot(
      ssz.phase0.DepositMessage,
      message,
      depositDomain(genesisForkVersion),
    );
    const ok = verify(
      signingRoot,
      PublicKey.fromBytes(message.pubkey, true),
      Signature.fromBytes(signature, true),
    );
    return ok ? undefined : "signature does not verify";
  } catch (err) {
    return errorMessage(err);
  }
}

export interface DepositOptions {
  /** Amount per validator in oGPU (decimal string). */
  amount: string;
  genesisForkVersion: Uint8Array;
  networkName: string;
  /** 0x01 (or with `compounding` 0x02) credentials to this execution address; else 0x00 BLS credentials. */
  withdrawalAddress?: string;
  compounding?: boolean;
  /** The mnemonic the keys come from: needed for BLS (0x00) credentials only. */
  mnemonic?: string;
}

/**
 * Checks deposit options without any key: the amount for the kind of credentials, the
 * withdrawal address, `compounding` only with an address. Returns the amount in Gwei and, with
 * an address, the execution withdrawal credentials.
 */
export function checkDepositOptions(opts: DepositOptions): {
  amountGwei: bigint;
  withdrawalCredentials?: Uint8Array;
} {
  if (opts.compounding === true && opts.withdrawalAddress === undefined) {
    throw new KeysError(
      KeysErrorCode.INVALID_DEPOSIT,
      "compounding (0x02) credentials need a withdrawal address",
    );
  }
  if (opts.networkName.length === 0)
    throw new KeysError(KeysErrorCode.INVALID_DEPOSIT, "network name is empty");
  depositDomain(opts.genesisForkVersion);
  const kind: WithdrawalKind =
    opts.withdrawalAddress === undefined ? "bls" : opts.compounding === true ? "compounding" : "execution";
  const amountGwei = parseDepositAmount(opts.amount, kind);
  if (opts.withdrawalAddress === undefined) return { amountGwei };
  return {
    amountGwei,
    withdrawalCredentials: executionWithdrawalCredentials(opts.withdrawalAddress, opts.compounding === true),
  };
}

/**
 * Deposit data for signing keys. With a withdrawal address every deposit withdraws to it; without
 * one, each key's BLS withdrawal key `m/12381/3600/i/0` is derived from the mnemonic, which must be
 * the one the signing key (`m/12381/3600/i/0/0`) came from.
 */
export function depositDataForKeys(
  keys: readonly { secretKey: SecretKey; path: string }[],
  opts: DepositOptions,
): DepositDataJson[] {
  const { amountGwei, withdrawalCredentials: fixed } = checkDepositOptions(opts);
  const seed = fixed === undefined && opts.mnemonic !== undefined ? mnemonicToSeed(opts.mnemonic) : undefined;
  return keys.map((key) => {
    let withdrawalCredentials = fixed;
    if (withdrawalCredentials === undefined) {
      const pubkey = key.secretKey.toPublicKey().toHex();
      if (seed === undefined) {
        throw new KeysError(
          KeysErrorCode.NO_WITHDRAWAL_KEY,
          `BLS (0x00) withdrawal credentials for ${pubkey} need the mnemonic it was created from; or give a withdrawal address`,
        );
      }
      const index = validatorIndexOfSigningPath(key.path);
      if (index === undefined || deriveSecretKey(seed, key.path).toPublicKey().toHex() !== pubkey) {
        throw new KeysError(
          KeysErrorCode.NO_WITHDRAWAL_KEY,
          `key ${pubkey} (path "${key.path}") was not derived from this mnemonic at an EIP-2334 signing path; give a withdrawal address`,
        );
      }
      withdrawalCredentials = blsWithdrawalCredentials(
        deriveSecretKey(seed, withdrawalKeyPath(index)).toPublicKey().toBytes(),
      );
    }
    return buildDepositData(key.secretKey, {
      withdrawalCredentials,
      amountGwei,
      genesisForkVersion: opts.genesisForkVersion,
      networkName: opts.networkName,
    });
  });
}

/** `deposit_data-<unix seconds>.json`. */
export function depositDataFileName(unixSeconds: number): string {
  return `deposit_data-${unixSeconds}.json`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function unhex(text: string, length: number): Uint8Array {
  if (!new RegExp(`^[0-9a-f]{${length * 2}}$`).test(text)) throw new Error(`expected ${length} bytes of hex`);
  return new Uint8Array(Buffer.from(text, "hex"));
}
