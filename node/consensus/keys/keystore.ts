/**
 * EIP-2335 keystores: encrypting a BLS secret key (scrypt or PBKDF2 key derivation, AES-128-CTR,
 * SHA-256 checksum), parsing and validating keystore files, decrypting them, file naming as the
 * staking-deposit-cli does (`keystore-m_12381_3600_<i>_0_0-<unix seconds>.json`) and reading
 * password files.
 *
 * Encryption uses `@chainsafe/bls-keystore`. Decryption is implemented here over node:crypto's
 * asynchronous scrypt/PBKDF2, which run on libuv's thread pool: loading many keystores neither
 * blocks the event loop nor runs one key at a time (the library's KDFs are synchronous).
 * Passwords are normalized as EIP-2335 requires (NFKD, C0/C1/DEL control codes removed).
 */

import { createDecipheriv, createHash, pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  create,
  defaultPbkdfModule,
  defaultScryptModule,
  type IKeystore,
  type IPbkdf2KdfModule,
  type IScryptKdfModule,
  validateKeystore,
} from "@chainsafe/bls-keystore";
import { SecretKey } from "@chainsafe/blst";
import { errorMessage } from "../../utils/errors.ts";
import { KeysError, KeysErrorCode } from "./errors.ts";

export type { IKeystore };

export type KdfFunction = "scrypt" | "pbkdf2";

/** EIP-2335's recommended work factor: scrypt N and PBKDF2 iteration count, 2^18. */
export const DEFAULT_KDF_WORK_FACTOR = 262_144;

/** Shortest password accepted for a new keystore (as the staking-deposit-cli requires). */
export const MIN_PASSWORD_LENGTH = 8;

export interface EncryptOptions {
  /** Key derivation function (default scrypt, as the staking-deposit-cli). */
  kdf?: KdfFunction;
  /**
   * scrypt N / PBKDF2 iterations (default 2^18). Lower values make keystores cheap to crack:
   * only tests lower it.
   */
  workFactor?: number;
  description?: string;
}

/** Largest KDF parameters a keystore may ask for (bounds memory and time on load). */
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_R = 32;
const MAX_SCRYPT_P = 16;
const MAX_PBKDF2_C = 2 ** 24;

/** EIP-2335 password normalization: NFKD, then C0 (0x00-0x1F), DEL and C1 (0x7F-0x9F) removed. */
export function normalizePassword(password: string): Uint8Array {
  let out = "";
  for (const ch of password.normalize("NFKD")) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x1f && !(code >= 0x7f && code <= 0x9f)) out += ch;
  }
  return new TextEncoder().encode(out);
}

/** Encrypts `secretKey` into a version-4 keystore whose `path` is the key's derivation path. */
export async function encryptKeystore(
  secretKey: SecretKey,
  password: string,
  path: string,
  opts: EncryptOptions = {},
): Promise<IKeystore> {
  assertNewPassword(password);
  const workFactor = opts.workFactor ?? DEFAULT_KDF_WORK_FACTOR;
  const kdf = opts.kdf ?? "scrypt";
  let kdfModule:
    | Pick<IScryptKdfModule, "function" | "params">
    | Pick<IPbkdf2KdfModule, "function" | "params">;
  if (kdf === "scrypt") {
    if (!Number.isSafeInteger(workFactor) || workFactor < 2 || (workFactor & (workFactor - 1)) !== 0)
      throw new KeysError(KeysErrorCode.INVALID_KEYSTORE, "scrypt N must be a power of two");
    const mod = defaultScryptModule();
    kdfModule = { function: "scrypt", params: { ...mod.params, n: workFactor } };
  } else {
    const mod = defaultPbkdfModule();
    kdfModule = { function: "pbkdf2", params: { ...mod.params, c: workFactor } };
  }
  const pubkey = secretKey.toPublicKey().toBytes();
  return create(password, secretKey.toBytes(), pubkey, path, opts.description ?? "", kdfModule);
}

/** Rejects passwords too short for a new keystore (counted after EIP-2335 normalization). */
export function assertNewPassword(password: string): void {
  const length = [...new TextDecoder().decode(normalizePassword(password))].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new KeysError(
      KeysErrorCode.WEAK_PASSWORD,
      `keystore passwords must be at least ${MIN_PASSWORD_LENGTH} characters long`,
    );
  }
}

/**
 * Parses and validates a keystore (JSON text or an object). `source` names it in errors. Checks
 * the EIP-2335 schema, the key derivation parameters (bounded so a hostile file cannot exhaust
 * memory) and that `pubkey` is a 48-byte hex key.
 */
export function parseKeystore(input: string | unknown, source: string): IKeystore {
  let value: unknown = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw invalidKeystore(source, `not JSON (${errorMessage(err)})`);
    }
  }
  try {
    validateKeystore(value);
  } catch (err) {
    throw invalidKeystore(source, errorMessage(err));
  }
  const keystore = value as IKeystore;
  if (keystore.version !== 4) throw invalidKeystore(source, `version ${keystore.version} is not 4`);
  if (!/^(0x)?[0-9a-fA-F]{96}$/.test(keystore.pubkey))
    throw invalidKeystore(source, "pubkey is not 48 bytes of hex");
  const kdf = keystore.crypto.kdf;
  if (kdf.params.dklen !== 32) throw invalidKeystore(source, "kdf dklen must be 32");
  if (kdf.function === "scrypt") {
    const { n, r, p } = kdf.params;
    if (!Number.isSafeInteger(n) || n < 2 || (n & (n - 1)) !== 0 || n > MAX_SCRYPT_N)
      throw invalidKeystore(source, `scrypt n ${n} must be a power of two up to 2^20`);
    if (!Number.isSafeInteger(r) || r < 1 || r > MAX_SCRYPT_R)
      throw invalidKeystore(source, `scrypt r ${r} out of range`);
    if (!Number.isSafeInteger(p) || p < 1 || p > MAX_SCRYPT_P)
      throw invalidKeystore(source, `scrypt p ${p} out of range`);
  } else {
    const { c } = kdf.params;
    if (!Number.isSafeInteger(c) || c < 1 || c > MAX_PBKDF2_C)
      throw invalidKeystore(source, `pbkdf2 c ${c} out of range`);
  }
  if (!/^([0-9a-fA-F]{2})+$/.test(keystore.crypto.cipher.message))
    throw invalidKeystore(source, "cipher message is not hex");
  if (!/^[0-9a-fA-F]{32}$/.test(keystore.crypto.cipher.params.iv))
    throw invalidKeystore(source, "cipher iv is not 16 bytes");
  if (!/^[0-9a-fA-F]{64}$/.test(keystore.crypto.checksum.message))
    throw invalidKeystore(source, "checksum is not 32 bytes");
  return keystore;
}

/** The keystore's public key as 0x-prefixed lower-case hex. */
export function keystorePubkey(keystore: IKeystore): `0x${string}` {
  return `0x${keystore.pubkey.replace(/^0x/, "").toLowerCase()}`;
}

/**
 * Decrypts a keystore: derives the key asynchronously on the thread pool, checks the checksum
 * (a mismatch is `WRONG_PASSWORD`), deciphers the secret and checks it is the secret of the
 * keystore's `pubkey` (`PUBKEY_MISMATCH` otherwise). `source` names the keystore in errors.
 */
export async function decryptKeystore(
  keystore: IKeystore,
  password: string,
  source: string,
): Promise<SecretKey> {
  const dk = await deriveKey(keystore, normalizePassword(password));
  const ciphertext = Buffer.from(keystore.crypto.cipher.message, "hex");
  const checksum = createHash("sha256").update(dk.subarray(16, 32)).update(ciphertext).digest();
  if (!timingSafeEqual(checksum, Buffer.from(keystore.crypto.checksum.message, "hex"))) {
    throw new KeysError(KeysErrorCode.WRONG_PASSWORD, `${source}: wrong password`, { source });
  }
  const decipher = createDecipheriv(
    "aes-128-ctr",
    dk.subarray(0, 16),
    Buffer.from(keystore.crypto.cipher.params.iv, "hex"),
  );
  const secret = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  let secretKey: SecretKey;
  try {
    secretKey = SecretKey.fromBytes(secret);
  } catch (err) {
    throw invalidKeystore(source, `the decrypted secret is not a BLS secret key (${errorMessage(err)})`);
  } finally {
    secret.fill(0);
  }
  if (secretKey.toPublicKey().toHex() !== keystorePubkey(keystore)) {
    throw new KeysError(
      KeysErrorCode.PUBKEY_MISMATCH,
      `${source}: the secret key does not belong to pubkey ${keystorePubkey(keystore)}`,
      { source },
    );
  }
  return secretKey;
}

function deriveKey(keystore: IKeystore, password: Uint8Array): Promise<Buffer> {
  const kdf = keystore.crypto.kdf;
  const salt = Buffer.from(kdf.params.salt, "hex");
  return new Promise((resolve, reject) => {
    if (kdf.function === "scrypt") {
      const { n, r, p, dklen } = kdf.params;
      scrypt(password, salt, dklen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) =>
        err ? reject(err) : resolve(key),
      );
    } else {
      const { c, dklen } = kdf.params;
      pbkdf2(password, salt, c, dklen, "sha256", (err, key) => (err ? reject(err) : resolve(key)));
    }
  });
}

/**
 * The file name the staking-deposit-cli gives a keystore: `keystore-m_12381_3600_0_0_0-<unix
 * seconds>.json`; a keystore without a path is named after its public key's first 8 bytes.
 */
export function keystoreFileName(keystore: IKeystore, unixSeconds: number): string {
  const stem =
    keystore.path !== "" ? keystore.path.replaceAll("/", "_") : keystorePubkey(keystore).slice(2, 18);
  return `keystore-${stem}-${unixSeconds}.json`;
}

/**
 * Reads a secret (a password) from a file: trailing line breaks are dropped, anything else is
 * kept. Throws `SECRET_FILE` for a missing or empty file; the contents never reach an error.
 */
export function readSecretFile(file: string, what = "password"): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new KeysError(KeysErrorCode.SECRET_FILE, `cannot read ${what} file ${file} (${code})`, { file });
  }
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret.length === 0)
    throw new KeysError(KeysErrorCode.SECRET_FILE, `${what} file ${file} is empty`, { file });
  return secret;
}

function invalidKeystore(source: string, why: string): KeysError {
  return new KeysError(KeysErrorCode.INVALID_KEYSTORE, `${source}: not a valid EIP-2335 keystore: ${why}`, {
    source,
  });
}
