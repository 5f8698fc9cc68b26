/**
 * Validator key derivation: BIP-39 mnemonics (English word list, empty passphrase, as the
 * Ethereum staking-deposit-cli uses them), EIP-2333 hierarchical BLS12-381 key derivation and
 * EIP-2334 paths.
 *
 * EIP-2333 itself (HKDF_mod_r, the Lamport-based child derivation) is `@chainsafe/blst`'s
 * `SecretKey.deriveMasterEip2333` / `deriveChildEip2333` (blst's native implementation); this
 * module walks paths over it. Validator `i` signs with `m/12381/3600/i/0/0` and withdraws with
 * `m/12381/3600/i/0` (EIP-2334).
 */
import { SecretKey } from "@chainsafe/blst";
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from "ethereum-cryptography/bip39";
import { wordlist } from "ethereum-cryptography/bip39/wordlists/english";
import { KeysError, KeysErrorCode } from "./errors.ts";

/** EIP-2334 purpose level. */
export const EIP2334_PURPOSE = 12381;
/** EIP-2334 coin type of Ethereum-style consensus keys. */
export const EIP2334_COIN_TYPE = 3600;

const MAX_INDEX = 0xffff_ffff;

/** Signing key path of validator `index`: `m/12381/3600/index/0/0`. */
export function signingKeyPath(index: number): string {
  assertIndex(index);
  return `m/${EIP2334_PURPOSE}/${EIP2334_COIN_TYPE}/${index}/0/0`;
}

/** Withdrawal key path of validator `index`: `m/12381/3600/index/0`. */
export function withdrawalKeyPath(index: number): string {
  assertIndex(index);
  return `m/${EIP2334_PURPOSE}/${EIP2334_COIN_TYPE}/${index}/0`;
}

/** The validator index of an EIP-2334 signing key path, or undefined for any other path. */
export function validatorIndexOfSigningPath(path: string): number | undefined {
  const match = /^m\/12381\/3600\/(\d+)\/0\/0$/.exec(path);
  if (match === null) return undefined;
  const index = Number(match[1]);
  return Number.isSafeInteger(index) && index <= MAX_INDEX ? index : undefined;
}

/** Parses `m/a/b/...` into its indices (each 0 <= i < 2^32); `m` alone is the master key. */
export function parsePath(path: string): number[] {
  const parts = path.split("/");
  if (parts[0] !== "m") throw invalidPath(path, "must start with m");
  return parts.slice(1).map((part) => {
    if (!/^\d+$/.test(part)) throw invalidPath(path, `"${part}" is not an index`);
    const index = Number(part);
    if (!Number.isSafeInteger(index) || index > MAX_INDEX)
      throw invalidPath(path, `${part} is not below 2^32`);
    return index;
  });
}

/** EIP-2333: the secret key at `path` below the master key of `seed` (at least 32 bytes). */
export function deriveSecretKey(seed: Uint8Array, path: string): SecretKey {
  const indices = parsePath(path);
  if (seed.length < 32)
    throw new KeysError(KeysErrorCode.INVALID_PATH, "EIP-2333 seeds are at least 32 bytes");
  let key = SecretKey.deriveMasterEip2333(seed);
  for (const index of indices) key = key.deriveChildEip2333(index);
  return key;
}

/** A fresh 24-word (256-bit) BIP-39 English mnemonic. */
export function newMnemonic(): string {
  return generateMnemonic(wordlist, 256);
}

/**
 * Canonical form of a mnemonic typed or stored by a person: lower case, single spaces. Throws
 * `INVALID_MNEMONIC` (without echoing the words) unless it is a valid English BIP-39 mnemonic.
 */
export function normalizeMnemonic(text: string): string {
  const mnemonic = text.normalize("NFKD").trim().toLowerCase().split(/\s+/).join(" ");
  const words = mnemonic.split(" ").length;
  if (![12, 15, 18, 21, 24].includes(words) || !validateMnemonic(mnemonic, wordlist)) {
    throw new KeysError(
      KeysErrorCode.INVALID_MNEMONIC,
      `not a valid BIP-39 English mnemonic (${words} words; expected 12-24 words from the English list with a valid checksum)`,
    );
  }
  return mnemonic;
}

/** The BIP-39 seed of a mnemonic (PBKDF2-HMAC-SHA512, 2048 rounds). */
export function mnemonicToSeed(mnemonic: string, passphrase = ""): Uint8Array {
  return mnemonicToSeedSync(normalizeMnemonic(mnemonic), passphrase);
}

function assertIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index > MAX_INDEX) {
    throw new KeysError(KeysErrorCode.INVALID_PATH, `validator index ${index} is not in 0..2^32-1`);
  }
}

function invalidPath(path: string, why: string): KeysError {
  return new KeysError(KeysErrorCode.INVALID_PATH, `invalid derivation path "${path}": ${why}`, { path });
}
