/**
 * Typed errors of validator key management (mnemonics, EIP-2333/2334 derivation, EIP-2335
 * keystores, key directories and deposit data). Messages never contain passwords, mnemonics or
 * secret keys.
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const KeysErrorCode = {
  /** Not a valid 12-24 word BIP-39 English mnemonic (unknown word or bad checksum). */
  INVALID_MNEMONIC: "KEYS_INVALID_MNEMONIC",
  /** Not an EIP-2334 derivation path (`m/12381/3600/...`, each index below 2^32). */
  INVALID_PATH: "KEYS_INVALID_PATH",
  /** A file is not a valid EIP-2335 keystore (bad JSON, schema, or KDF parameters). */
  INVALID_KEYSTORE: "KEYS_INVALID_KEYSTORE",
  /** The password does not decrypt the keystore (checksum mismatch). */
  WRONG_PASSWORD: "KEYS_WRONG_PASSWORD",
  /** The keystore's `pubkey` is not the public key of the secret it holds. */
  PUBKEY_MISMATCH: "KEYS_PUBKEY_MISMATCH",
  /** A new keystore's password is shorter than 8 characters. */
  WEAK_PASSWORD: "KEYS_WEAK_PASSWORD",
  /** A password or mnemonic file is missing, unreadable or empty. */
  SECRET_FILE: "KEYS_SECRET_FILE",
  /** A key with this public key is already in the key directory. */
  KEY_EXISTS: "KEYS_KEY_EXISTS",
  /** Deposit parameters are invalid (amount, withdrawal address, fork version, network name). */
  INVALID_DEPOSIT: "KEYS_INVALID_DEPOSIT",
  /** BLS (0x00) withdrawal credentials need the mnemonic the key was derived from. */
  NO_WITHDRAWAL_KEY: "KEYS_NO_WITHDRAWAL_KEY",
} as const;
export type KeysErrorCode = (typeof KeysErrorCode)[keyof typeof KeysErrorCode];

export class KeysError extends OpenGpuError<KeysErrorCode> {
  override name = "KeysError";
}
